//! Writing CSV: every CSV the gateway writes (the invitations export, campaign reports) goes
//! through [`push_row`], so each cell is quoted where RFC 4180 needs it and neutralised where a
//! spreadsheet would read it as a formula (OWASP "CSV Injection"). NDJSON and JSON keep values
//! as they are.

use std::borrow::Cow;

/// What a cell may not begin with: a spreadsheet would read it as a formula (`=`, `+`, `-`,
/// `@`), or drop the character and read what follows as one (tab, carriage return).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// One cell: prefixed with `'` when it begins like a formula (the OWASP advice; spreadsheets
/// show the text), then quoted when it holds a delimiter, a quote or a line end.
pub fn cell(value: &str) -> Cow<'_, str> {
    let value: Cow<'_, str> = if value.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    };
    if value.contains([',', '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        value
    }
}

/// Appends one line of `cells` (each through [`cell`]) ending in CRLF to `out`.
pub fn push_row<'a>(out: &mut String, cells: impl IntoIterator<Item = &'a str>) {
    for (i, value) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&cell(value));
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_when_needed() {
        assert_eq!(cell("ada@example.com"), "ada@example.com");
        assert_eq!(cell("a\"b,c@example.com"), "\"a\"\"b,c@example.com\"");
    }

    #[test]
    fn a_cell_beginning_like_a_formula_is_neutralised() {
        for (value, written) in [
            ("=1+1@example.com", "'=1+1@example.com"),
            ("+SUM(1+1)", "'+SUM(1+1)"),
            ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
            ("@SUM(1)", "'@SUM(1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "\"'\r=1\""),
            (
                "=HYPERLINK(\"http://x\",\"a\")",
                "\"'=HYPERLINK(\"\"http://x\"\",\"\"a\"\")\"",
            ),
            ("a=1", "a=1"),
        ] {
            assert_eq!(cell(value), written, "{value:?}");
        }
    }

    #[test]
    fn a_row_ends_in_crlf() {
        let mut out = String::new();
        push_row(&mut out, ["a", "", "=b"]);
        assert_eq!(out, "a,,'=b\r\n");
    }
}
