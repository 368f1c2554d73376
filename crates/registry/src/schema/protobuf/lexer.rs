//! Tokens of the .proto language: identifiers (dotted names are joined by the
//! parser), integer and float literals, string literals (adjacent strings are
//! concatenated by the parser) and one-character symbols. Comments and
//! whitespace are skipped. Every token carries its line and column so a bad
//! schema is answered with where it went wrong.

use super::ProtoError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    /// Integer literal as written (decimal, hex or octal), unsigned.
    Int(u64),
    /// Float literal as written (kept as text so a default value prints back
    /// exactly as the user wrote it).
    Float(String),
    Str(String),
    Sym(char),
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub tok: Tok,
    pub line: usize,
    pub col: usize,
}

pub(super) fn tokenize(src: &str) -> Result<Vec<Token>, ProtoError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let err = |line, col, msg: String| ProtoError::Syntax { line, col, msg };
    while i < chars.len() {
        let c = chars[i];
        let (start_line, start_col) = (line, col);
        // Advance over `n` characters keeping line/column right.
        let mut bump = |n: usize, i: &mut usize| {
            for _ in 0..n {
                if chars[*i] == '\n' {
                    line += 1;
                    col = 1;
                } else {
                    col += 1;
                }
                *i += 1;
            }
        };
        if c.is_whitespace() {
            bump(1, &mut i);
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                bump(1, &mut i);
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            bump(2, &mut i);
            loop {
                if i >= chars.len() {
                    return Err(err(start_line, start_col, "unterminated comment".into()));
                }
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    bump(2, &mut i);
                    break;
                }
                bump(1, &mut i);
            }
            continue;
        }
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            let mut s = String::new();
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                s.push(chars[i]);
                bump(1, &mut i);
            }
            Tok::Ident(s)
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let mut s = String::new();
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || ((chars[i] == '-' || chars[i] == '+')
                        && matches!(s.chars().last(), Some('e' | 'E'))
                        && !s.starts_with("0x")
                        && !s.starts_with("0X")))
            {
                s.push(chars[i]);
                bump(1, &mut i);
            }
            number(&s).ok_or_else(|| err(start_line, start_col, format!("invalid number `{s}`")))?
        } else if c == '"' || c == '\'' {
            bump(1, &mut i);
            let mut s = String::new();
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err(err(start_line, start_col, "unterminated string".into()));
                };
                if d == '\n' {
                    return Err(err(start_line, start_col, "newline inside a string".into()));
                }
                bump(1, &mut i);
                if d == c {
                    break;
                }
                if d == '\\' {
                    let Some(&e) = chars.get(i) else {
                        return Err(err(start_line, start_col, "unterminated string".into()));
                    };
                    bump(1, &mut i);
                    s.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '0' => '\0',
                        'a' => '\x07',
                        'b' => '\x08',
                        'f' => '\x0c',
                        'v' => '\x0b',
                        other => other,
                    });
                } else {
                    s.push(d);
                }
            }
            Tok::Str(s)
        } else if "{}[]()<>;,=.-+:/".contains(c) {
            bump(1, &mut i);
            Tok::Sym(c)
        } else {
            return Err(err(
                start_line,
                start_col,
                format!("unexpected character `{c}`"),
            ));
        };
        out.push(Token {
            tok,
            line: start_line,
            col: start_col,
        });
    }
    Ok(out)
}

fn number(s: &str) -> Option<Tok> {
    let lower = s.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).ok().map(Tok::Int);
    }
    if lower.contains(['.', 'e']) || lower == "inf" || lower == "nan" {
        let body = lower.strip_suffix('f').unwrap_or(&lower);
        return body.parse::<f64>().ok().map(|_| Tok::Float(s.to_string()));
    }
    if lower.len() > 1 && lower.starts_with('0') {
        return u64::from_str_radix(&lower[1..], 8).ok().map(Tok::Int);
    }
    lower.parse::<u64>().ok().map(Tok::Int)
}
