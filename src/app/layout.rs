//! Where each pane goes, as a pure function of the terminal size, so `update` can map a
//! mouse click to the same rows `render` drew.

use ratatui::layout::Rect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub table: Rect,
    pub tabs: Rect,
    pub detail: Rect,
    pub status: Rect,
    pub footer: Rect,
}

pub fn areas(size: Rect, sidecars: usize) -> Areas {
    let h = size.height;
    // The table takes its rows (plus border and header), but at most ~40% of the screen.
    let table_h = (sidecars as u16 + 3).min((h.saturating_sub(4)) * 2 / 5).max(3.min(h));
    let mut y = size.y;
    let mut take = |n: u16| {
        let n = n.min(size.y + h - y);
        let r = Rect { x: size.x, y, width: size.width, height: n };
        y += n;
        r
    };
    let header = take(1);
    let table = take(table_h);
    let tabs = take(1);
    let detail_h = h.saturating_sub(header.height + table.height + tabs.height + 2);
    let detail = take(detail_h);
    let status = take(1);
    let footer = take(1);
    Areas { header, table, tabs, detail, status, footer }
}

/// Rows of the table body (below its border and header) that show sidecars.
pub fn table_body(table: Rect) -> Rect {
    Rect {
        x: table.x + 1,
        y: table.y + 2,
        width: table.width.saturating_sub(2),
        height: table.height.saturating_sub(3),
    }
}
