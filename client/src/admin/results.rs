//! [`ItemResults`]: per-item outcomes of an operation over several items.

use std::fmt;

use crate::error::Error;

/// The outcome of an operation for each item asked about, in the order
/// asked. One item failing never hides another's result.
#[derive(Debug, Clone)]
pub struct ItemResults<K, T> {
    items: Vec<(K, Result<T, Error>)>,
}

impl<K, T> ItemResults<K, T> {
    pub(crate) fn new(items: Vec<(K, Result<T, Error>)>) -> Self {
        Self { items }
    }

    /// Each item and its outcome, in the order asked.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &Result<T, Error>)> {
        self.items.iter().map(|(k, r)| (k, r))
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The outcome for `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&Result<T, Error>>
    where
        K: PartialEq<Q>,
        Q: ?Sized,
    {
        self.items.iter().find(|(k, _)| k == key).map(|(_, r)| r)
    }

    /// Every value, or the first error (in the order asked).
    pub fn into_result(self) -> Result<Vec<T>, Error> {
        self.items.into_iter().map(|(_, r)| r).collect()
    }

    /// The items that failed.
    pub fn errors(&self) -> impl Iterator<Item = (&K, &Error)> {
        self.items
            .iter()
            .filter_map(|(k, r)| r.as_ref().err().map(|e| (k, e)))
    }

    /// The single item's outcome, for operations on one item.
    pub(crate) fn into_single(self, api: &'static str) -> Result<T, Error>
    where
        K: fmt::Debug,
    {
        match self.items.into_iter().next() {
            Some((_, r)) => r,
            None => Err(Error::MissingResult {
                api,
                item: "the request".into(),
            }),
        }
    }
}

impl<K, T> IntoIterator for ItemResults<K, T> {
    type Item = (K, Result<T, Error>);
    type IntoIter = std::vec::IntoIter<(K, Result<T, Error>)>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorContext;
    use klamm_protocol::ErrorCode;

    #[test]
    fn one_failure_does_not_hide_the_others() {
        let failed = Error::Broker {
            api: "CreateTopics",
            code: ErrorCode::TopicAlreadyExists,
            message: Some("exists".into()),
            context: ErrorContext::default().with_topic("b"),
        };
        let results = ItemResults::new(vec![
            ("a".to_string(), Ok(1)),
            ("b".to_string(), Err(failed)),
            ("c".to_string(), Ok(3)),
        ]);
        assert_eq!(results.len(), 3);
        assert_eq!(results.get("a").unwrap().as_ref().unwrap(), &1);
        assert_eq!(results.get("c").unwrap().as_ref().unwrap(), &3);
        let errors: Vec<_> = results
            .errors()
            .map(|(k, e)| (k.clone(), e.code()))
            .collect();
        assert_eq!(
            errors,
            vec![("b".to_string(), Some(ErrorCode::TopicAlreadyExists))]
        );
        assert_eq!(
            results.into_result().unwrap_err().code(),
            Some(ErrorCode::TopicAlreadyExists)
        );
    }
}
