//! The servers a client may use, and which one it dials next: a list
//! tried in order, moving on after every failure or loss, so a client
//! outlives any one instance of a service.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// What [`Client::builder`](super::Client::builder) accepts: one
/// `host:port`, or several (an array, a slice, a `Vec`), tried in order.
///
/// ```
/// use framewire::client::IntoServers;
///
/// assert_eq!("a:1".into_servers(), ["a:1"]);
/// assert_eq!(["a:1", "b:2"].into_servers(), ["a:1", "b:2"]);
/// assert_eq!(vec![String::from("a:1")].into_servers(), ["a:1"]);
/// ```
pub trait IntoServers {
    /// The addresses, in the order to try them.
    fn into_servers(self) -> Vec<String>;
}

impl IntoServers for &str {
    fn into_servers(self) -> Vec<String> {
        vec![self.to_owned()]
    }
}

impl IntoServers for String {
    fn into_servers(self) -> Vec<String> {
        vec![self]
    }
}

impl IntoServers for &String {
    fn into_servers(self) -> Vec<String> {
        vec![self.clone()]
    }
}

impl<S: AsRef<str>> IntoServers for Vec<S> {
    fn into_servers(self) -> Vec<String> {
        self.iter().map(|s| s.as_ref().to_owned()).collect()
    }
}

impl<S: AsRef<str>> IntoServers for &[S] {
    fn into_servers(self) -> Vec<String> {
        self.iter().map(|s| s.as_ref().to_owned()).collect()
    }
}

impl<S: AsRef<str>, const N: usize> IntoServers for [S; N] {
    fn into_servers(self) -> Vec<String> {
        self.iter().map(|s| s.as_ref().to_owned()).collect()
    }
}

/// The list and the position of the server in use (or to dial next).
pub(crate) struct Servers {
    list: Vec<String>,
    at: AtomicUsize,
}

impl Servers {
    pub(crate) fn new(list: Vec<String>) -> Servers {
        Servers {
            list,
            at: AtomicUsize::new(0),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// The server in use, or the next to dial.
    pub(crate) fn current(&self) -> &str {
        match self.list.len() {
            0 => "",
            n => &self.list[self.at.load(Relaxed) % n],
        }
    }

    /// Moves on to the next server in the list (wrapping round).
    pub(crate) fn advance(&self) {
        if !self.list.is_empty() {
            let _ = self
                .at
                .fetch_update(Relaxed, Relaxed, |i| Some((i + 1) % self.list.len()));
        }
    }

    pub(crate) fn list(&self) -> &[String] {
        &self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_wraps_round_the_list() {
        let s = Servers::new(["a", "b", "c"].into_servers());
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(s.current().to_owned());
            s.advance();
        }
        assert_eq!(seen, ["a", "b", "c", "a"]);
        let empty = Servers::new(Vec::new());
        empty.advance();
        assert_eq!(empty.current(), "");
    }

    #[test]
    fn every_form_of_server_list_keeps_its_addresses_in_order() {
        let owned = String::from("o:1");
        assert_eq!("a:1".into_servers(), ["a:1"]);
        assert_eq!(owned.clone().into_servers(), ["o:1"]);
        assert_eq!((&owned).into_servers(), ["o:1"]);
        assert_eq!(vec!["v:1", "v:2"].into_servers(), ["v:1", "v:2"]);
        assert_eq!(["s:1", "s:2"][..].into_servers(), ["s:1", "s:2"]);
        assert_eq!(["r:1", "r:2", "r:3"].into_servers(), ["r:1", "r:2", "r:3"]);
        let s = Servers::new(["x:1", "y:2"].into_servers());
        assert_eq!(
            (s.len(), s.list()),
            (2, &["x:1".to_owned(), "y:2".to_owned()][..])
        );
        assert_eq!(Servers::new(Vec::new()).len(), 0);
    }
}
