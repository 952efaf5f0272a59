//! A small RFC 4180 CSV reader and writer, enough for customer import and export.
//!
//! Export starts with a UTF-8 byte-order mark so Excel opens Hebrew correctly; import
//! skips one. Cells that a spreadsheet would run as a formula (`=`, `@`, `-`, or `+`
//! followed by anything but an E.164 number's digits) are written with a leading `'`, which import
//! removes again, so a round trip gives back exactly what went out.

pub const BOM: &str = "\u{feff}";

/// Parses CSV text into rows of cells, each with the line it started on (1-based).
pub fn parse(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    let mut rows = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut cell = String::new();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    let mut row_line = 1usize;
    let mut quoted = false;
    let mut at_cell_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    cell.push('\n');
                }
                _ => cell.push(c),
            }
            continue;
        }
        match c {
            '"' if at_cell_start => {
                quoted = true;
                at_cell_start = false;
            }
            ',' => {
                row.push(std::mem::take(&mut cell));
                at_cell_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                row.push(std::mem::take(&mut cell));
                if !(row.len() == 1 && row[0].is_empty()) {
                    rows.push((row_line, std::mem::take(&mut row)));
                }
                row.clear();
                line += 1;
                row_line = line;
                at_cell_start = true;
            }
            _ => {
                cell.push(c);
                at_cell_start = false;
            }
        }
    }
    if quoted {
        return Err(format!("line {row_line}: a quoted cell is never closed"));
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push((row_line, row));
    }
    Ok(rows)
}

/// A number as stored (E.164: `+` and digits only), which a spreadsheet reads as a plain
/// number. Anything else starting with `+` or `-` (`-2+3`, `+972-50-…`) it would compute.
fn is_phone_like(s: &str) -> bool {
    s.strip_prefix('+')
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// One cell, quoted when needed and defused against formula injection.
pub fn cell(value: &str) -> String {
    let risky = match value.chars().next() {
        Some('=' | '@' | '\t' | '\r' | '\'') => true,
        Some('+' | '-') => !is_phone_like(value),
        _ => false,
    };
    let value = if risky {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) || value.starts_with(' ') || value.ends_with(' ') {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// Undoes [`cell`]'s formula guard on import.
pub fn unguard(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '@', '\t', '\r', '\'', '+', '-']) => rest,
        _ => value,
    }
}

/// One CSV line (with CRLF, as RFC 4180 and Excel expect).
pub fn line<S: AsRef<str>>(cells: &[S]) -> String {
    let mut out = cells
        .iter()
        .map(|c| cell(c.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_awkward_cells() {
        let cells = [
            "דנה כהן",
            "a,b",
            "say \"hi\"",
            "two\nlines",
            "=HYPERLINK(\"x\")",
            "+972501234567",
            "-1+2",
            "'quoted",
            "",
        ];
        let text = format!("{BOM}{}", line(&cells));
        let rows = parse(&text).unwrap();
        assert_eq!(rows.len(), 1);
        let back: Vec<&str> = rows[0].1.iter().map(|c| unguard(c)).collect();
        assert_eq!(back, cells);
        assert!(text.contains("'=HYPERLINK"));
        assert!(text.contains(",+972501234567,"));
        assert!(
            text.contains(",'-1+2,"),
            "arithmetic is defused too: {text}"
        );
        for risky in ["-2+3", "+1+1", "+972-50-1234567", "-", "+"] {
            assert!(cell(risky).starts_with('\''), "{risky}");
        }
    }

    #[test]
    fn line_numbers_and_blank_lines() {
        let rows = parse("h1,h2\n\na,\"b\nc\"\nd,e").unwrap();
        let lines: Vec<usize> = rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [1, 3, 5]);
        assert_eq!(rows[1].1, ["a", "b\nc"]);
        assert!(parse("a,\"b").is_err());
    }
}
