//! The dashboard: [`state::State`], [`msg::Msg`] and [`update::update`] (pure), and the
//! run loop that owns the terminal and carries out effects.

pub mod composer;
pub mod copy;
mod dialogs;
pub mod effects;
mod input;
pub mod keymap;
pub mod model;
pub mod msg;
mod pager;
pub mod run;
pub mod sort;
pub mod state;
pub mod terminal;
pub mod traffic;
pub mod update;
