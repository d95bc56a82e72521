//! Just enough JSON for the worker protocol: one flat object per line, whose
//! values are numbers, strings, booleans or null (no nesting). Written by
//! `worker.rs` and `v8/driver.mjs`, read by `child.rs`.

use anyhow::{Context, Result, bail};

/// A JSON string literal for `s`.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One value of a flat object. Numbers and literals (`true`, `null`) keep
/// their source text.
#[derive(Debug, PartialEq)]
pub enum Value {
    Str(String),
    Raw(String),
}

/// The fields of a flat object, in order.
pub struct Object(Vec<(String, Value)>);

impl Object {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Str(s) => Some(s),
            Value::Raw(_) => None,
        }
    }

    pub fn num(&self, key: &str) -> Result<f64> {
        match self.get(key) {
            Some(Value::Raw(r)) => r.parse().with_context(|| format!("`{key}` is not a number: {r}")),
            _ => bail!("no number `{key}`"),
        }
    }
}

pub fn parse(line: &str) -> Result<Object> {
    let mut p = Parser { s: line.trim().as_bytes(), i: 0 };
    p.expect(b'{')?;
    let mut fields = Vec::new();
    p.ws();
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            let key = p.string()?;
            p.ws();
            p.expect(b':')?;
            p.ws();
            let value = if p.peek() == Some(b'"') { Value::Str(p.string()?) } else { Value::Raw(p.raw()) };
            fields.push((key, value));
            p.ws();
            match p.next() {
                Some(b',') => continue,
                Some(b'}') => break,
                _ => bail!("expected `,` or `}}` at byte {} of {line:?}", p.i),
            }
        }
    }
    p.ws();
    if p.i != p.s.len() {
        bail!("trailing text after the object in {line:?}");
    }
    Ok(Object(fields))
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek();
        self.i += 1;
        c
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        if self.next() != Some(c) {
            bail!("expected `{}` at byte {}", c as char, self.i - 1);
        }
        Ok(())
    }

    /// A number or a literal: everything up to the next `,`, `}` or space.
    fn raw(&mut self) -> String {
        let start = self.i;
        while !matches!(self.peek(), None | Some(b',' | b'}' | b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn string(&mut self) -> Result<String> {
        self.expect(b'"')?;
        let mut bytes = Vec::new();
        loop {
            match self.next() {
                None => bail!("unterminated string"),
                Some(b'"') => break,
                Some(b'\\') => match self.next() {
                    Some(b'n') => bytes.push(b'\n'),
                    Some(b'r') => bytes.push(b'\r'),
                    Some(b't') => bytes.push(b'\t'),
                    Some(b'b') => bytes.push(8),
                    Some(b'f') => bytes.push(12),
                    Some(b'u') => {
                        let hex = self.s.get(self.i..self.i + 4).context("short \\u escape")?;
                        self.i += 4;
                        let code = u32::from_str_radix(std::str::from_utf8(hex)?, 16)?;
                        // Surrogate halves (never written by our workers) become U+FFFD.
                        let c = char::from_u32(code).unwrap_or('\u{fffd}');
                        bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    }
                    Some(c) => bytes.push(c),
                    None => bail!("unterminated escape"),
                },
                Some(c) => bytes.push(c),
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let line = format!("{{\"checksum\":-42, \"ms\":1.5e1,\"ok\":true,\"note\":{}}}", string("a \"b\"\n\\ c\u{1}"));
        let o = parse(&line).unwrap();
        assert_eq!(o.num("checksum").unwrap(), -42.0);
        assert_eq!(o.num("ms").unwrap(), 15.0);
        assert_eq!(o.get("ok"), Some(&Value::Raw("true".into())));
        assert_eq!(o.str("note"), Some("a \"b\"\n\\ c\u{1}"));
        assert!(parse("{}").unwrap().get("x").is_none());
        assert!(parse("{\"a\":1} x").is_err());
    }
}
