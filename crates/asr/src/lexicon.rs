//! The words a model knows, with how common each is: read from the model's
//! own language model (graph/Gr.fst, the grammar-capable graph Vosk needs
//! for vocabulary mode). Decoys are drawn from it, so they are words the
//! recognizer can actually output.
//!
//! Gr.fst is an OpenFst `ngram` FST: the FST header, the input and output
//! symbol tables, then the LOUDS-coded n-gram model. State 0 is the empty
//! history; its futures are every word with its unigram cost (-ln p).

use std::path::Path;

use crate::error::AsrError;

const FST_MAGIC: i32 = 0x7eb2_fdd6;
const SYMBOL_TABLE_MAGIC: i32 = 0x7eb2_fb74;
const HAS_INPUT_SYMBOLS: i32 = 1;
const HAS_OUTPUT_SYMBOLS: i32 = 2;
/// Where the lexicon lives inside a Vosk model directory.
const GRAMMAR_LM: &str = "graph/Gr.fst";

/// The model's words, most common first.
#[derive(Debug, Clone, PartialEq)]
pub struct Lexicon {
    words: Vec<LexiconWord>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LexiconWord {
    pub word: String,
    /// Unigram cost, -ln p: lower is more common.
    pub cost: f32,
}

impl Lexicon {
    /// Reads the lexicon of the model in `model_dir`.
    pub fn load(model_dir: &Path) -> Result<Lexicon, AsrError> {
        let path = model_dir.join(GRAMMAR_LM);
        let bytes = std::fs::read(&path).map_err(|source| AsrError::LexiconRead {
            path: path.clone(),
            source,
        })?;
        Lexicon::parse(&bytes).map_err(|reason| AsrError::LexiconFormat { path, reason })
    }

    pub fn from_words(mut words: Vec<LexiconWord>) -> Lexicon {
        words.sort_by(|a, b| a.cost.total_cmp(&b.cost));
        Lexicon { words }
    }

    /// Most common first.
    pub fn words(&self) -> &[LexiconWord] {
        &self.words
    }

    fn parse(bytes: &[u8]) -> Result<Lexicon, &'static str> {
        let mut r = Reader { bytes, at: 0 };
        if r.i32()? != FST_MAGIC {
            return Err("not an OpenFst file");
        }
        if r.string()? != b"ngram" {
            return Err("not an ngram FST");
        }
        let _arc_type = r.string()?;
        let _version = r.i32()?;
        let flags = r.i32()?;
        let _properties = r.u64()?;
        let _start = r.u64()?;
        let _states = r.u64()?;
        let _arcs = r.u64()?;
        if flags & HAS_INPUT_SYMBOLS != 0 {
            r.symbol_table(false)?;
        }
        if flags & HAS_OUTPUT_SYMBOLS == 0 {
            return Err("no word symbol table");
        }
        let symbols = r.symbol_table(true)?;
        let states = r.count()?;
        let futures = r.count()?;
        let finals = r.count()?;
        let words_of = |bits: usize| bits.div_ceil(64);
        r.skip(8 * words_of(2 * states + 1))?;
        let future_bitmap = r.take(8 * words_of(futures + states + 1))?;
        r.skip(8 * words_of(states))?;
        r.skip(4 * (states + 1))?;
        let future_words = r.take(4 * (futures + 1))?;
        r.skip(4 * states)?;
        r.skip(4 * finals)?;
        let future_costs = r.take(4 * (futures + 1))?;
        if r.at != bytes.len() {
            return Err("n-gram sections do not add up to the file's length");
        }
        // The future bitmap is 0, then per state one 1 per future and a 0:
        // the unigrams are the 1s after the first 0.
        let bit = |i: usize| future_bitmap[i / 8] >> (i % 8) & 1 == 1;
        if bit(0) {
            return Err("unexpected future bitmap");
        }
        let unigrams = (1..future_bitmap.len() * 8).take_while(|&i| bit(i)).count();
        let mut words = Vec::with_capacity(unigrams);
        for i in 0..unigrams {
            let label = le_u32(future_words, 4 * i) as usize;
            let cost = f32::from_bits(le_u32(future_costs, 4 * i));
            if let Some(Some(word)) = symbols.get(label) {
                words.push(LexiconWord {
                    word: word.clone(),
                    cost,
                });
            }
        }
        Ok(Lexicon::from_words(words))
    }
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.at.checked_add(n).ok_or("length overflow")?;
        let slice = self.bytes.get(self.at..end).ok_or("file ends early")?;
        self.at = end;
        Ok(slice)
    }

    fn skip(&mut self, n: usize) -> Result<(), &'static str> {
        self.take(n).map(|_| ())
    }

    fn i32(&mut self) -> Result<i32, &'static str> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A count that must fit in memory.
    fn count(&mut self) -> Result<usize, &'static str> {
        usize::try_from(self.u64()?)
            .ok()
            .filter(|&n| n <= self.bytes.len())
            .ok_or("implausible count")
    }

    fn string(&mut self) -> Result<&'a [u8], &'static str> {
        let n = usize::try_from(self.i32()?).map_err(|_| "negative string length")?;
        self.take(n)
    }

    /// A symbol table, by key; `keep` false only steps over it.
    fn symbol_table(&mut self, keep: bool) -> Result<Vec<Option<String>>, &'static str> {
        if self.i32()? != SYMBOL_TABLE_MAGIC {
            return Err("bad symbol table");
        }
        let _name = self.string()?;
        let _available_key = self.u64()?;
        let size = self.count()?;
        let mut table: Vec<Option<String>> = Vec::new();
        for _ in 0..size {
            let symbol = self.string()?;
            let key = self.count()?;
            if keep {
                if table.len() <= key {
                    table.resize(key + 1, None);
                }
                table[key] = std::str::from_utf8(symbol).ok().map(str::to_string);
            }
        }
        Ok(table)
    }
}
