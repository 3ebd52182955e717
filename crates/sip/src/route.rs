//! The Request-URI and Route headers of a request we send inside a dialog,
//! from the dialog's remote target and route set (RFC 3261 §12.2.1.1).
//!
//! A route set whose first URI has `lr` is loose: the Request-URI is the
//! remote target and every route goes in a Route header, in order. Otherwise
//! the first hop is a strict router (RFC 2543): it gets the request with its
//! own URI as Request-URI, and the remote target travels as the last Route.

use std::borrow::Cow;

use crate::transport::NextHop;

pub(crate) struct InDialogTarget<'a> {
    pub request_uri: Cow<'a, str>,
    /// Route header values, in the order they are written.
    pub routes: Vec<Cow<'a, str>>,
}

pub(crate) fn in_dialog_target<'a>(
    remote_target: &'a str,
    route_set: &'a [String],
) -> InDialogTarget<'a> {
    match route_set.first() {
        Some(first) if !is_loose(first) => {
            let mut routes: Vec<Cow<'a, str>> = route_set[1..]
                .iter()
                .map(|r| Cow::Borrowed(r.as_str()))
                .collect();
            routes.push(Cow::Owned(format!("<{remote_target}>")));
            InDialogTarget {
                request_uri: Cow::Owned(request_uri_from(route_uri(first))),
                routes,
            }
        }
        _ => InDialogTarget {
            request_uri: Cow::Borrowed(remote_target),
            routes: route_set
                .iter()
                .map(|r| Cow::Borrowed(r.as_str()))
                .collect(),
        },
    }
}

/// The URI of a Route/Record-Route value: inside its angle brackets (the
/// parameters after `>` are the header's, not the URI's).
fn route_uri(value: &str) -> &str {
    match (value.find('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value.trim(),
    }
}

/// Whether the URI of a route carries the `lr` parameter (§19.1.1).
fn is_loose(value: &str) -> bool {
    uri_params(route_uri(value)).any(|p| param_name(p).eq_ignore_ascii_case("lr"))
}

/// A route URI made fit for a Request-URI: no headers part and no `method`
/// parameter, which Table 1 of §19.1.1 does not allow there.
fn request_uri_from(uri: &str) -> String {
    let without_headers = uri.split('?').next().unwrap_or(uri);
    let mut parts = without_headers.split(';');
    let mut out = parts.next().unwrap_or("").to_string();
    for p in parts.filter(|p| !param_name(p).eq_ignore_ascii_case("method")) {
        out.push(';');
        out.push_str(p);
    }
    out
}

/// Where a request in the dialog goes when a new connection must be opened
/// for it (RFC 3261 §8.1.2, §12.2.1.1): the first route, else the remote
/// target. Host as the URI writes it (a name, or an IP address with an IPv6
/// one unbracketed); the port it gives, or 5061, the port of SIP over TLS.
pub(crate) fn next_hop(remote_target: &str, route_set: &[String]) -> Option<NextHop> {
    let uri = route_uri(route_set.first().map_or(remote_target, String::as_str));
    let lower = uri.get(..5).map(str::to_ascii_lowercase)?;
    let rest = if lower == "sips:" {
        &uri[5..]
    } else if lower.starts_with("sip:") {
        &uri[4..]
    } else {
        return None;
    };
    let end = rest.find([';', '?']).unwrap_or(rest.len());
    let hostport = &rest[..end];
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    let (host, port) = match hostport.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        },
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 5061,
    };
    (!host.is_empty()).then(|| NextHop {
        host: host.to_string(),
        port,
    })
}

fn uri_params(uri: &str) -> impl Iterator<Item = &str> {
    uri.split('?').next().unwrap_or("").split(';').skip(1)
}

fn param_name(param: &str) -> &str {
    param.split('=').next().unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(t: &InDialogTarget<'_>) -> Vec<String> {
        t.routes.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn a_loose_route_set_keeps_the_remote_target_and_every_route_in_order() {
        let set = vec![
            "<sip:p1.example.com;lr;ftag=a1>".to_string(),
            "<sip:10.0.0.2:5080;lr=on>".to_string(),
        ];
        let t = in_dialog_target("sip:caller@10.0.0.9:5070", &set);
        assert_eq!(t.request_uri, "sip:caller@10.0.0.9:5070");
        assert_eq!(routes(&t), set);
    }

    #[test]
    fn a_strict_first_hop_becomes_the_request_uri_and_the_target_the_last_route() {
        let set = vec![
            "<sip:strict.example.com;transport=udp;method=INVITE?x=y>;hp=1".to_string(),
            "<sip:p2.example.com;lr>".to_string(),
        ];
        let t = in_dialog_target("sip:caller@10.0.0.9:5070", &set);
        assert_eq!(t.request_uri, "sip:strict.example.com;transport=udp");
        assert_eq!(
            routes(&t),
            vec!["<sip:p2.example.com;lr>", "<sip:caller@10.0.0.9:5070>"]
        );
    }

    #[test]
    fn lr_outside_the_uri_does_not_make_a_route_loose() {
        assert!(!is_loose("<sip:p.example.com>;lr"));
        assert!(is_loose("\"Proxy\" <sip:p.example.com;LR>"));
        assert!(!is_loose("<sip:lr.example.com;lrx>"));
    }

    #[test]
    fn the_next_hop_is_the_first_route_else_the_target_on_5061_by_default() {
        let hop = |target: &str, set: &[&str]| {
            let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
            next_hop(target, &set).map(|h| (h.host, h.port))
        };
        assert_eq!(
            hop("sips:caller@10.0.0.9", &[]),
            Some(("10.0.0.9".into(), 5061))
        );
        assert_eq!(
            hop("<sip:caller@[2001:db8::9]:5071;transport=tls>", &[]),
            Some(("2001:db8::9".into(), 5071))
        );
        assert_eq!(
            hop(
                "sip:caller@10.0.0.9:5070",
                &["<sip:edge.example.com:5062;lr;transport=tls>", "<sip:b;lr>"]
            ),
            Some(("edge.example.com".into(), 5062))
        );
        assert_eq!(hop("tel:+15551234567", &[]), None);
        assert_eq!(hop("sip:caller@10.0.0.9:x", &[]), None);
    }

    #[test]
    fn without_a_route_set_the_request_goes_to_the_remote_target() {
        let t = in_dialog_target("sip:caller@10.0.0.9:5070", &[]);
        assert_eq!(t.request_uri, "sip:caller@10.0.0.9:5070");
        assert!(t.routes.is_empty());
    }
}
