use std::path::{Path, PathBuf};

use super::error::StoreError;
use super::Backend;

/// A database URL we know how to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DatabaseUrl {
    Sqlite { path: PathBuf, url: String },
    Postgres { url: String },
}

impl DatabaseUrl {
    pub(super) fn parse(url: &str) -> Result<Self, StoreError> {
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            if path.is_empty() {
                return Err(StoreError::NoSqlitePath);
            }
            // Create the file on first use unless the URL says otherwise.
            let query = if query.contains("mode=") {
                query.to_string()
            } else if query.is_empty() {
                "mode=rwc".to_string()
            } else {
                format!("{query}&mode=rwc")
            };
            return Ok(Self::Sqlite {
                path: PathBuf::from(path),
                url: format!("sqlite://{}?{query}", escape_path(path)),
            });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres {
                url: url.to_string(),
            });
        }
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        Err(StoreError::UnsupportedUrl {
            scheme: scheme.to_string(),
        })
    }

    pub(super) fn backend(&self) -> Backend {
        match self {
            Self::Sqlite { .. } => Backend::Sqlite,
            Self::Postgres { .. } => Backend::Postgres,
        }
    }

    pub(super) fn connect_url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url } => url,
        }
    }

    /// Creates the directory a SQLite file goes in.
    pub(super) fn prepare(&self) -> Result<(), StoreError> {
        let Self::Sqlite { path, .. } = self else {
            return Ok(());
        };
        match path.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(dir) => create_dir(dir),
            None => Ok(()),
        }
    }
}

/// sqlx parses the URL and percent-decodes the path, so characters that
/// would end the path or fail to parse are escaped.
fn escape_path(path: &str) -> String {
    let mut escaped = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' => escaped.push_str("%25"),
            ' ' => escaped.push_str("%20"),
            '?' => escaped.push_str("%3F"),
            '#' => escaped.push_str("%23"),
            other => escaped.push(other),
        }
    }
    escaped
}

fn create_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_create_the_file_unless_told_otherwise() {
        let parsed = DatabaseUrl::parse("sqlite://data/passgate.db").unwrap();
        assert_eq!(parsed.connect_url(), "sqlite://data/passgate.db?mode=rwc");
        assert_eq!(parsed.backend(), Backend::Sqlite);
        let read_only = DatabaseUrl::parse("sqlite:///srv/p.db?mode=ro").unwrap();
        assert_eq!(read_only.connect_url(), "sqlite:///srv/p.db?mode=ro");
        let other = DatabaseUrl::parse("sqlite:x.db?cache=shared").unwrap();
        assert_eq!(other.connect_url(), "sqlite://x.db?cache=shared&mode=rwc");
    }

    #[test]
    fn awkward_characters_in_paths_are_escaped() {
        let parsed = DatabaseUrl::parse("sqlite:///srv/pass gate/100%.db").unwrap();
        assert_eq!(
            parsed.connect_url(),
            "sqlite:///srv/pass%20gate/100%25.db?mode=rwc"
        );
    }

    #[test]
    fn postgres_urls_pass_through_and_others_are_refused() {
        let url = "postgres://u:p@localhost:5432/db";
        assert_eq!(DatabaseUrl::parse(url).unwrap().connect_url(), url);
        assert_eq!(
            DatabaseUrl::parse("postgresql://h/db").unwrap().backend(),
            Backend::Postgres
        );
        let err = DatabaseUrl::parse("mysql://root:hunter2@h/db").unwrap_err();
        assert!(matches!(&err, StoreError::UnsupportedUrl { scheme } if scheme == "mysql"));
        assert!(!err.to_string().contains("hunter2"));
        assert!(matches!(
            DatabaseUrl::parse("sqlite://"),
            Err(StoreError::NoSqlitePath)
        ));
    }

    #[test]
    fn prepare_creates_the_data_directory() {
        let base = std::env::temp_dir().join(format!("passgate-url-{}", std::process::id()));
        let url = format!("sqlite://{}/nested/dir/p.db", base.display());
        DatabaseUrl::parse(&url).unwrap().prepare().unwrap();
        assert!(base.join("nested/dir").is_dir());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
