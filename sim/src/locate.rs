//! Where in a JSON text a value is: the line and column of the value a path of keys and array
//! indexes names. Scenario files are checked in two passes (serde for the shape, then the
//! references between parts); serde reports positions, and this gives the second pass's errors
//! positions too.

use jsonc_parser::ast::{ObjectProp, Value};
use jsonc_parser::common::Ranged;

/// One step of a path into a JSON document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// A member of an object, by name.
    Name(String),
    /// An element of an array, by index from 0.
    Index(usize),
}

impl From<&str> for Key {
    fn from(name: &str) -> Self {
        Key::Name(name.to_owned())
    }
}

impl From<usize> for Key {
    fn from(index: usize) -> Self {
        Key::Index(index)
    }
}

/// The path of the first JSON array in `text` (in document order) that `allowed` does not admit
/// at its path; `None` when there is none or `text` is not JSON. serde reads a struct from an
/// array as well as from an object (its fields by position), so a file whose format has arrays
/// only in some places must be checked for arrays standing in for objects.
pub fn stray_array(text: &str, allowed: &dyn Fn(&[Key]) -> bool) -> Option<Vec<Key>> {
    let root = jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default()).ok()?.value?;
    let mut path = Vec::new();
    stray_array_at(&root, allowed, &mut path).then_some(path)
}

fn stray_array_at(value: &Value<'_>, allowed: &dyn Fn(&[Key]) -> bool, path: &mut Vec<Key>) -> bool {
    match value {
        Value::Array(array) => {
            if !allowed(path) {
                return true;
            }
            for (i, element) in array.elements.iter().enumerate() {
                path.push(Key::Index(i));
                if stray_array_at(element, allowed, path) {
                    return true;
                }
                path.pop();
            }
            false
        }
        Value::Object(object) => {
            for prop in &object.properties {
                path.push(Key::Name(prop.name.as_str().to_owned()));
                if stray_array_at(&prop.value, allowed, path) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

/// The 1-based line and column (in characters) where the value at `path` starts; for an object
/// member, where its name starts. When the path leaves the document, the position of the
/// deepest value it reached; for a text that is not JSON, the start (1, 1).
pub fn locate(text: &str, path: &[Key]) -> (usize, usize) {
    let Ok(Some(root)) =
        jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default()).map(|r| r.value)
    else {
        return (1, 1);
    };
    line_column(text, offset(&root, path))
}

/// The byte offset where the value at `path` under `value` starts (see [`locate`]).
fn offset(value: &Value<'_>, path: &[Key]) -> usize {
    let Some((key, rest)) = path.split_first() else { return value.start() };
    match (value, key) {
        (Value::Object(object), Key::Name(name)) => {
            match object.properties.iter().find(|p: &&ObjectProp<'_>| p.name.as_str() == name) {
                Some(prop) if rest.is_empty() => prop.start(),
                Some(prop) => offset(&prop.value, rest),
                None => value.start(),
            }
        }
        (Value::Array(array), Key::Index(i)) => match array.elements.get(*i) {
            Some(element) => offset(element, rest),
            None => value.start(),
        },
        _ => value.start(),
    }
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "{\n  \"users\": { \"a\": {}, \"é\": {\"devices\": 2} },\n  \"steps\": [\n    {\"at_ms\": 0},\n    {\"at_ms\": 5}\n  ]\n}";

    fn at(path: &[Key]) -> (usize, usize) {
        locate(TEXT, path)
    }

    #[test]
    fn array_elements_and_object_members_are_found_by_position() {
        assert_eq!(at(&["steps".into(), 0.into()]), (4, 5));
        assert_eq!(at(&["steps".into(), 1.into()]), (5, 5));
        assert_eq!(at(&["steps".into(), 1.into(), "at_ms".into()]), (5, 6));
        assert_eq!(at(&["users".into(), "a".into()]), (2, 14));
        // Columns count characters: "é" is two bytes but one column.
        assert_eq!(at(&["users".into(), "é".into(), "devices".into()]), (2, 29));
    }

    /// The first array not admitted, in the order of the text (not of the keys' names).
    #[test]
    fn a_stray_array_is_the_first_in_the_text() {
        let text = r#"{"steps": [[1]], "users": {"z": [1], "a": [1]}}"#;
        let only_steps = |p: &[Key]| matches!(p, [Key::Name(n)] if n == "steps");
        assert_eq!(stray_array(text, &only_steps), Some(vec!["steps".into(), 0.into()]));
        let steps_and_their_items = |p: &[Key]| matches!(p.first(), Some(Key::Name(n)) if n == "steps");
        assert_eq!(stray_array(text, &steps_and_their_items), Some(vec!["users".into(), "z".into()]));
        assert_eq!(locate(text, &["users".into(), "z".into()]), (1, 28), "where the name \"z\" starts");
        assert_eq!(stray_array(r#"{"a": {"b": 1}}"#, &|_| false), None);
        assert_eq!(stray_array("not json", &|_| false), None);
    }

    #[test]
    fn a_path_that_leaves_the_document_stops_at_the_deepest_value_found() {
        assert_eq!(at(&["steps".into(), 7.into()]), (3, 12), "the array");
        assert_eq!(at(&["nowhere".into()]), (1, 1), "the root");
        assert_eq!(at(&["users".into(), 0.into()]), (2, 12), "an index into an object");
        assert_eq!(locate("not json", &["steps".into()]), (1, 1));
        assert_eq!(at(&[]), (1, 1));
    }
}
