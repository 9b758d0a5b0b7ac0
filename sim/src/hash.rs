//! The trace hash: a 64-bit hash computed incrementally over the serde data model of every
//! trace record, in order (no trace is kept in memory, nothing is formatted).
//!
//! Each primitive value, each string's bytes, each sequence length and each enum variant index
//! is folded into the state as a 64-bit word with `h = (h.rotate_left(5) ^ word) * K` (the
//! FxHash step, `K = 0x517cc1b727220a95`), starting from the FNV-1a offset basis. Two runs with
//! the same seed and inputs produce the same records and so the same hash; the hash does not
//! depend on JSON formatting.

use serde::ser::{self, Serialize};
use std::fmt;

const K: u64 = 0x517c_c1b7_2722_0a95;
const BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// The running hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHasher {
    state: u64,
}

impl Default for TraceHasher {
    fn default() -> Self {
        Self { state: BASIS }
    }
}

/// Never produced: hashing cannot fail.
#[derive(Debug)]
pub struct NoError;

impl fmt::Display for NoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("hashing failed")
    }
}
impl std::error::Error for NoError {}
impl ser::Error for NoError {
    fn custom<T: fmt::Display>(_: T) -> Self {
        NoError
    }
}

impl TraceHasher {
    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.state
    }

    /// Folds one word.
    #[inline]
    pub fn word(&mut self, w: u64) {
        self.state = (self.state.rotate_left(5) ^ w).wrapping_mul(K);
    }

    fn bytes(&mut self, b: &[u8]) {
        self.word(b.len() as u64);
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
        }
        let mut last = [0u8; 8];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.word(u64::from_le_bytes(last));
    }

    /// Folds one serializable record.
    pub fn record<T: Serialize + ?Sized>(&mut self, value: &T) {
        let _ = value.serialize(&mut *self);
    }
}

type R = Result<(), NoError>;

macro_rules! words {
    ($($name:ident: $t:ty),*) => {
        $(fn $name(self, v: $t) -> R { self.word(v as u64); Ok(()) })*
    };
}

impl ser::Serializer for &mut TraceHasher {
    type Ok = ();
    type Error = NoError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    words!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
           serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
           serialize_u64: u64, serialize_char: char);

    fn serialize_f32(self, v: f32) -> R {
        self.word(u64::from(v.to_bits()));
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> R {
        self.word(v.to_bits());
        Ok(())
    }
    fn serialize_str(self, v: &str) -> R {
        self.bytes(v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> R {
        self.bytes(v);
        Ok(())
    }
    fn serialize_none(self) -> R {
        self.word(0);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> R {
        self.word(1);
        value.serialize(self)
    }
    fn serialize_unit(self) -> R {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> R {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, index: u32, _: &'static str) -> R {
        self.word(u64::from(index));
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> R {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> R {
        self.word(u64::from(index));
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, NoError> {
        self.word(len.unwrap_or(usize::MAX) as u64);
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, NoError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, NoError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, NoError> {
        self.word(u64::from(index));
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self, NoError> {
        self.word(len.unwrap_or(usize::MAX) as u64);
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, NoError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, NoError> {
        self.word(u64::from(index));
        Ok(self)
    }
}

macro_rules! compound {
    ($($tr:ident :: $m:ident),*) => {
        $(impl ser::$tr for &mut TraceHasher {
            type Ok = ();
            type Error = NoError;
            fn $m<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
                value.serialize(&mut **self)
            }
            fn end(self) -> R {
                Ok(())
            }
        })*
    };
}
compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for &mut TraceHasher {
    type Ok = ();
    type Error = NoError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> R {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
        value.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeStruct for &mut TraceHasher {
    type Ok = ();
    type Error = NoError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> R {
        value.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut TraceHasher {
    type Ok = ();
    type Error = NoError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> R {
        value.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_records_hash_equal_and_different_ones_differ() {
        let mut a = TraceHasher::default();
        let mut b = TraceHasher::default();
        a.record(&(1u64, "x", Some(2u32)));
        b.record(&(1u64, "x", Some(2u32)));
        assert_eq!(a.finish(), b.finish());
        b.record(&0u8);
        assert_ne!(a.finish(), b.finish(), "one more record changes the hash");
        let mut c = TraceHasher::default();
        c.record(&(1u64, "y", Some(2u32)));
        assert_ne!(a.finish(), c.finish(), "a changed field changes the hash");
    }
}
