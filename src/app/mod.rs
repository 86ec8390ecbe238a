//! The dashboard: [`state::State`], [`msg::Msg`] and [`update::update`] (pure), and the
//! run loop that owns the terminal and carries out effects.

pub mod actions;
pub mod composer;
pub mod copy;
mod dialogs;
pub mod effects;
pub mod groups;
pub mod keymap;
pub mod layout;
pub mod log_view;
pub mod model;
pub mod msg;
pub mod sort;
pub mod state;
pub mod text_area;
pub mod traffic;
pub mod update;
