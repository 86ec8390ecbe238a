//! `/proc/PID/stat`, split in one place: the command name (field 2) may hold spaces and
//! parentheses, so the fields are counted from the last `)`; numbered as proc(5) does.

pub const PPID: usize = 4;
pub const PGRP: usize = 5;
pub const SESSION: usize = 6;
pub const UTIME: usize = 14;
pub const STIME: usize = 15;
pub const NUM_THREADS: usize = 20;
pub const STARTTIME: usize = 22;
pub const RSS: usize = 24;

/// The fields of one stat line from the state (field 3) on; borrowed, nothing allocated.
#[derive(Debug, Clone, Copy)]
pub struct StatFields<'a>(&'a str);

impl<'a> StatFields<'a> {
    pub fn parse(text: &'a str) -> Option<StatFields<'a>> {
        Some(StatFields(text.rsplit_once(')')?.1))
    }

    /// The state letter: R, S, D, Z, T...
    pub fn state(&self) -> Option<char> {
        self.0.trim_start().chars().next()
    }

    /// Field `n` (proc(5)'s numbering, from 3) as a number.
    pub fn number(&self, n: usize) -> Option<u64> {
        self.0.split_whitespace().nth(n.checked_sub(3)?)?.parse().ok()
    }
}

/// The stat line of `pid`, if it still exists.
pub fn read(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_count_from_the_last_parenthesis() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 10 0 0 0 7 3 0 0 20 0 5 0 123 1000 77 rest";
        let stat = StatFields::parse(line).unwrap();
        assert_eq!(stat.state(), Some('S'));
        assert_eq!(stat.number(PPID), Some(1));
        assert_eq!(stat.number(PGRP), Some(42));
        assert_eq!(stat.number(UTIME), Some(7));
        assert_eq!(stat.number(STIME), Some(3));
        assert_eq!(stat.number(NUM_THREADS), Some(5));
        assert_eq!(stat.number(STARTTIME), Some(123));
        assert_eq!(stat.number(RSS), Some(77));
        assert_eq!(stat.number(2), None);
    }

    #[test]
    fn this_process_reads_itself() {
        let text = read(std::process::id()).unwrap();
        let stat = StatFields::parse(&text).unwrap();
        assert_eq!(stat.number(PPID), Some(std::os::unix::process::parent_id() as u64));
        assert!(stat.number(NUM_THREADS).unwrap() >= 1);
    }
}
