//! A slab of values addressed by `u32` slots, reused after removal: the queue carries a slot
//! instead of a large message, so heap entries stay small.

/// Values by slot; freed slots are reused.
pub struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self { items: Vec::new(), free: Vec::new() }
    }
}

impl<T> Slab<T> {
    /// Stores `value` and returns its slot.
    pub fn insert(&mut self, value: T) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                self.items[slot as usize] = Some(value);
                slot
            }
            None => {
                self.items.push(Some(value));
                u32::try_from(self.items.len() - 1).expect("fewer than 2^32 values in flight")
            }
        }
    }

    /// Takes the value out of `slot`.
    pub fn take(&mut self, slot: u32) -> Option<T> {
        let value = self.items.get_mut(slot as usize)?.take();
        if value.is_some() {
            self.free.push(slot);
        }
        value
    }

    /// The value in `slot`, if any.
    pub fn get(&self, slot: u32) -> Option<&T> {
        self.items.get(slot as usize)?.as_ref()
    }

    /// Cache hint: starts loading `slot`, all of it (a value may straddle two cache lines,
    /// and taking it reads every byte). It changes nothing.
    #[inline]
    pub fn prefetch(&self, slot: u32) {
        if let Some(item) = self.items.get(slot as usize) {
            crate::hint::whole(item);
        }
    }

    /// Values stored now.
    pub fn len(&self) -> usize {
        self.items.len() - self.free.len()
    }

    /// Whether no value is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
