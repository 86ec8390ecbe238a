//! The composer's small multi-line editor: lines, a cursor, and the keys that move and
//! edit, by characters (not bytes) so any UTF-8 text is safe to edit.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A small text editor: lines and a cursor (row, column in characters).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextArea {
    pub lines: Vec<String>,
    pub row: usize,
    pub col: usize,
}

impl TextArea {
    pub fn from(text: &str) -> TextArea {
        let lines: Vec<String> =
            if text.is_empty() { vec![String::new()] } else { text.lines().map(String::from).collect() };
        let row = lines.len() - 1;
        let col = lines[row].chars().count();
        TextArea { lines, row, col }
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    fn byte(&self) -> usize {
        self.lines[self.row].char_indices().nth(self.col).map_or(self.lines[self.row].len(), |(i, _)| i)
    }

    /// Inserts pasted text at the cursor, as text (never as keys). A single-line field
    /// takes line breaks as spaces; control characters are dropped.
    pub fn paste(&mut self, text: &str, multiline: bool) {
        for c in text.replace("\r\n", "\n").chars() {
            match c {
                '\n' | '\r' if multiline => {
                    let at = self.byte();
                    let rest = self.lines[self.row].split_off(at);
                    self.lines.insert(self.row + 1, rest);
                    self.row += 1;
                    self.col = 0;
                }
                '\n' | '\r' | '\t' => self.insert(' '),
                c if c.is_control() => {}
                c => self.insert(c),
            }
        }
    }

    fn insert(&mut self, c: char) {
        let at = self.byte();
        self.lines[self.row].insert(at, c);
        self.col += 1;
    }

    /// Edits; returns false for keys it does not use.
    pub fn key(&mut self, key: &KeyEvent, multiline: bool) -> bool {
        let len = |s: &String| s.chars().count();
        match key.code {
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => self.insert(c),
            KeyCode::Enter if multiline => {
                let at = self.byte();
                let rest = self.lines[self.row].split_off(at);
                self.lines.insert(self.row + 1, rest);
                self.row += 1;
                self.col = 0;
            }
            KeyCode::Backspace if self.col > 0 => {
                self.col -= 1;
                let at = self.byte();
                self.lines[self.row].remove(at);
            }
            KeyCode::Backspace if self.row > 0 => {
                let line = self.lines.remove(self.row);
                self.row -= 1;
                self.col = len(&self.lines[self.row]);
                self.lines[self.row].push_str(&line);
            }
            KeyCode::Delete if self.col < len(&self.lines[self.row]) => {
                let at = self.byte();
                self.lines[self.row].remove(at);
            }
            KeyCode::Left if self.col > 0 => self.col -= 1,
            KeyCode::Right if self.col < len(&self.lines[self.row]) => self.col += 1,
            KeyCode::Up if self.row > 0 => {
                self.row -= 1;
                self.col = self.col.min(len(&self.lines[self.row]));
            }
            KeyCode::Down if self.row + 1 < self.lines.len() => {
                self.row += 1;
                self.col = self.col.min(len(&self.lines[self.row]));
            }
            KeyCode::Home => self.col = 0,
            KeyCode::End => self.col = len(&self.lines[self.row]),
            _ => return false,
        }
        true
    }
}
