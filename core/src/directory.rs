//! Names at the edge: UIDs and GUIDs (strings) mapped to the compact ids the machines use.

use crate::ids::{GroupId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A two-way map between user and group names and their ids.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    users: BTreeMap<String, UserId>,
    user_names: Vec<String>,
    groups: BTreeMap<String, GroupId>,
    group_names: Vec<String>,
}

impl Directory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `name` for `id` (the id the switchboard gave the user).
    ///
    /// # Panics
    /// When `id` is not the next one: users are recorded in the order the switchboard
    /// registered them (ids count up from 0), so a gap is a mistake in the calling code.
    pub fn insert_user(&mut self, name: &str, id: UserId) {
        assert_eq!(id.0 as usize, self.user_names.len(), "user ids are recorded in order");
        self.users.insert(name.to_owned(), id);
        self.user_names.push(name.to_owned());
    }

    /// Records `name` for `id` (the id the switchboard gave the group).
    ///
    /// # Panics
    /// When `id` is not the next one, as for [`Directory::insert_user`].
    pub fn insert_group(&mut self, name: &str, id: GroupId) {
        assert_eq!(id.0 as usize, self.group_names.len(), "group ids are recorded in order");
        self.groups.insert(name.to_owned(), id);
        self.group_names.push(name.to_owned());
    }

    /// The id of a user name.
    pub fn user(&self, name: &str) -> Option<UserId> {
        self.users.get(name).copied()
    }

    /// The id of a group name.
    pub fn group(&self, name: &str) -> Option<GroupId> {
        self.groups.get(name).copied()
    }

    /// A user's name.
    pub fn user_name(&self, id: UserId) -> Option<&str> {
        self.user_names.get(id.0 as usize).map(String::as_str)
    }

    /// A group's name.
    pub fn group_name(&self, id: GroupId) -> Option<&str> {
        self.group_names.get(id.0 as usize).map(String::as_str)
    }

    /// How many users are named.
    pub fn user_count(&self) -> usize {
        self.user_names.len()
    }
}
