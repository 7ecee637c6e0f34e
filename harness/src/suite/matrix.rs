//! The grid notation of expected matrices: the table people draw on a whiteboard.
//!
//! ```text
//!           space1  space2
//! space1      -       Y
//! space2      Y       -
//! ```
//!
//! The first non-blank line names the destinations (columns); every other line names a source (row) and then
//! holds one cell per column: `Y` must reach, `N` must not reach, `-` is not checked.

use std::fmt;

/// One cell of an expected matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Cell {
    /// `Y`: the source must reach the destination (UDP/TCP: delivered).
    Reach,
    /// `N`: the source must not reach the destination (UDP/TCP: refused or dropped).
    NoReach,
    /// `-`: not checked.
    Unchecked,
    /// `U`: by name, the name must not resolve.
    Unresolved,
    /// `R`: UDP/TCP, refused (ICMP port unreachable / TCP reset).
    Refused,
    /// `D`: UDP/TCP, dropped (no answer at all).
    Dropped,
    /// `O`: UDP/TCP with `listen = false`, open (a socket of the lab accepts there).
    Open,
}

impl Cell {
    /// The character used in the grid.
    pub fn symbol(self) -> char {
        match self {
            Cell::Reach => 'Y',
            Cell::NoReach => 'N',
            Cell::Unchecked => '-',
            Cell::Unresolved => 'U',
            Cell::Refused => 'R',
            Cell::Dropped => 'D',
            Cell::Open => 'O',
        }
    }
}

/// A word of the grid and where it stands (line index and byte column within the grid text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The word.
    pub text: String,
    /// Line index within the grid text (0-based).
    pub line: usize,
    /// Byte offset of the word within its line (0-based).
    pub col: usize,
}

/// A parsed grid, still in the words of the suite (names are resolved by the loader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    /// Destination names, left to right.
    pub columns: Vec<Token>,
    /// Source rows, top to bottom.
    pub rows: Vec<GridRow>,
}

/// One row of a grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridRow {
    /// The source's name.
    pub name: Token,
    /// One cell per column.
    pub cells: Vec<(Cell, Token)>,
}

/// What is wrong with a grid, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridError {
    /// Line index within the grid text (0-based).
    pub line: usize,
    /// Byte column within that line (0-based).
    pub col: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl fmt::Display for GridError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line + 1, self.col + 1, self.message)
    }
}

fn words(line: &str, index: usize) -> Vec<Token> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, ch) in line.char_indices().chain(std::iter::once((line.len(), ' '))) {
        match (ch.is_whitespace() || ch == '|', start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push(Token { text: line[s..i].to_string(), line: index, col: s });
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// Whether a line holds no word: only whitespace and `|` separators.
fn blank(line: &str) -> bool {
    line.chars().all(|c| c.is_whitespace() || c == '|')
}

/// Parses grid text. Blank lines (also lines of separators alone) are ignored; `|` may be used to draw column
/// separators.
pub fn parse(text: &str) -> Result<Grid, GridError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !blank(l));
    let Some((header_index, header)) = lines.next() else {
        return Err(GridError {
            line: 0,
            col: 0,
            message: "the matrix is empty".into(),
            hint: "write a header line of destinations, then one line per source".into(),
        });
    };
    let columns = words(header, header_index);
    let mut seen = std::collections::HashSet::new();
    for c in &columns {
        if !seen.insert(c.text.as_str()) {
            return Err(GridError {
                line: c.line,
                col: c.col,
                message: format!("destination `{}` appears twice in the header", c.text),
                hint: "name each destination once".into(),
            });
        }
    }
    let mut rows: Vec<GridRow> = Vec::new();
    let mut sources = std::collections::HashSet::new();
    for (index, line) in lines {
        let mut tokens = words(line, index).into_iter();
        let name = tokens.next().expect("non-blank line has a word");
        if !sources.insert(name.text.clone()) {
            return Err(GridError {
                line: name.line,
                col: name.col,
                message: format!("source `{}` has two rows", name.text),
                hint: "name each source once".into(),
            });
        }
        let mut cells = Vec::new();
        for token in tokens {
            let cell = match token.text.as_str() {
                "Y" | "y" => Cell::Reach,
                "N" | "n" => Cell::NoReach,
                "-" => Cell::Unchecked,
                "U" | "u" => Cell::Unresolved,
                "R" | "r" => Cell::Refused,
                "D" | "d" => Cell::Dropped,
                "O" | "o" => Cell::Open,
                other => {
                    return Err(GridError {
                        line: token.line,
                        col: token.col,
                        message: format!("`{other}` is not a cell"),
                        hint: "cells are `Y` (must reach), `N` (must not reach) or `-` (not checked); also `U` (name must not resolve), `R` (refused), `D` (dropped), `O` (open)".into(),
                    })
                }
            };
            cells.push((cell, token));
        }
        if cells.len() != columns.len() {
            let col = cells.last().map_or(name.col + name.text.len(), |(_, t)| t.col);
            return Err(GridError {
                line: name.line,
                col,
                message: format!(
                    "row `{}` has {} cells but the header names {} destinations",
                    name.text,
                    cells.len(),
                    columns.len()
                ),
                hint: format!(
                    "give one cell per destination: {}",
                    columns.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join(" ")
                ),
            });
        }
        rows.push(GridRow { name, cells });
    }
    if rows.is_empty() {
        return Err(GridError {
            line: header_index,
            col: 0,
            message: "the matrix has a header but no rows".into(),
            hint: "add one line per source: its name, then one cell per destination".into(),
        });
    }
    Ok(Grid { columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_lab_grid() {
        let grid = parse("\n          space1  space2\nspace1      -       Y\nspace2      N       -\n").unwrap();
        assert_eq!(grid.columns.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), ["space1", "space2"]);
        assert_eq!(grid.rows[0].cells[1].0, Cell::Reach);
        assert_eq!(grid.rows[1].cells[0].0, Cell::NoReach);
        assert_eq!((grid.rows[1].cells[0].1.line, grid.rows[1].cells[0].1.col), (3, 12));
    }

    #[test]
    fn separators_are_allowed() {
        let grid = parse("   | a | b\na  | - | Y\nb  | Y | -").unwrap();
        assert_eq!(grid.rows.len(), 2);
    }

    #[test]
    fn rejects_a_bad_cell_where_it_stands() {
        let err = parse("   a b\na  - X\nb  Y -").unwrap_err();
        assert_eq!((err.line, err.col), (1, 5));
        assert!(err.message.contains("`X`"));
    }

    #[test]
    fn rejects_short_rows() {
        let err = parse("   a b\na  -\nb  Y -").unwrap_err();
        assert!(err.message.contains("has 1 cells but the header names 2"), "{err}");
    }

    #[test]
    fn lines_of_separators_alone_are_blank() {
        // Found by the grid fuzzer: a line of `|` only has no source name (it panicked).
        let grid = parse("   a | b\n  |  |  \na  | - | Y\n|\nb  | Y | -").unwrap();
        assert_eq!(grid.rows.len(), 2);
        assert!(parse(" | | \n|").unwrap_err().message.contains("empty"));
    }

    #[test]
    fn rejects_duplicates_and_empty() {
        assert!(parse("a a\na - -").unwrap_err().message.contains("twice"));
        assert!(parse("a b\na - Y\na Y -").unwrap_err().message.contains("two rows"));
        assert!(parse("  \n").unwrap_err().message.contains("empty"));
        assert!(parse("a b").unwrap_err().message.contains("no rows"));
    }
}
