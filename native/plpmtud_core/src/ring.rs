//! A fixed-capacity ring buffer: bounded memory, no allocation after construction.

/// Keeps the latest `N` values pushed; pushing into a full ring drops the oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ring<T: Copy + Default, const N: usize> {
    items: [T; N],
    start: u8,
    len: u8,
}

impl<T: Copy + Default, const N: usize> Default for Ring<T, N> {
    fn default() -> Self {
        Ring {
            items: [T::default(); N],
            start: 0,
            len: 0,
        }
    }
}

impl<T: Copy + Default, const N: usize> Ring<T, N> {
    /// Capacity; rings hold at most 255 values (indices are bytes).
    const CAPACITY: usize = {
        assert!(N > 0 && N <= 255, "a ring holds 1 to 255 values");
        N
    };

    /// Appends `value`; returns the oldest value if it had to be dropped.
    pub fn push(&mut self, value: T) -> Option<T> {
        let (start, len) = (usize::from(self.start), usize::from(self.len));
        if len == Self::CAPACITY {
            let dropped = self.items[start];
            self.items[start] = value;
            self.start = ((start + 1) % N) as u8;
            return Some(dropped);
        }
        self.items[(start + len) % N] = value;
        self.len += 1;
        None
    }

    /// Removes and returns the oldest value.
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let start = usize::from(self.start);
        let value = self.items[start];
        self.start = ((start + 1) % N) as u8;
        self.len -= 1;
        Some(value)
    }

    /// Values from oldest to newest.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + '_ {
        let start = usize::from(self.start);
        (0..usize::from(self.len)).map(move |i| &self.items[(start + i) % N])
    }

    /// Values from oldest to newest, mutably.
    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut T> + '_ {
        let (start, len) = (usize::from(self.start), usize::from(self.len));
        let (wrapped, head) = self.items.split_at_mut(start);
        // Oldest first: from `start` to the end, then wrapped from 0.
        let in_head = len.min(head.len());
        head[..in_head]
            .iter_mut()
            .chain(wrapped[..len - in_head].iter_mut())
    }

    /// The values as two slices, oldest first: the first holds the oldest
    /// values up to the end of the storage, the second the newer ones that
    /// wrapped to its start (empty when none did). Scanning slices costs no
    /// index arithmetic per value (the hot path's lookups).
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let (start, len) = (usize::from(self.start), usize::from(self.len));
        let in_head = len.min(N - start);
        (
            &self.items[start..start + in_head],
            &self.items[..len - in_head],
        )
    }

    /// [`Ring::as_slices`], mutably.
    pub fn as_mut_slices(&mut self) -> (&mut [T], &mut [T]) {
        let (start, len) = (usize::from(self.start), usize::from(self.len));
        let in_head = len.min(N - start);
        let (wrapped, head) = self.items.split_at_mut(start);
        (&mut head[..in_head], &mut wrapped[..len - in_head])
    }

    /// Number of values held.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;

    #[test]
    fn keeps_the_latest_values_in_order() {
        let mut ring: Ring<u32, 3> = Ring::default();
        assert_eq!(ring.push(1), None);
        assert_eq!(ring.push(2), None);
        assert_eq!(ring.push(3), None);
        assert_eq!(ring.push(4), Some(1));
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(ring.pop(), Some(2));
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.pop(), Some(3));
        assert_eq!(ring.pop(), Some(4));
        assert_eq!(ring.pop(), None);
        assert!(ring.is_empty());
    }

    #[test]
    fn iter_mut_changes_the_values_held_across_the_wrap() {
        let mut ring: Ring<u32, 3> = Ring::default();
        for v in 1..=5 {
            ring.push(v);
        }
        for v in ring.iter_mut() {
            *v *= 10;
        }
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), vec![30, 40, 50]);
        ring.pop();
        assert_eq!(ring.iter_mut().count(), 2);
    }

    #[test]
    fn slices_hold_the_values_oldest_first_across_the_wrap() {
        let mut ring: Ring<u32, 4> = Ring::default();
        assert_eq!(ring.as_slices(), (&[][..], &[][..]));
        for v in 1..=3 {
            ring.push(v);
        }
        assert_eq!(ring.as_slices(), (&[1, 2, 3][..], &[][..]));
        for v in 4..=6 {
            ring.push(v);
        }
        assert_eq!(ring.as_slices(), (&[3, 4][..], &[5, 6][..]));
        let (old, new) = ring.as_mut_slices();
        old[0] = 30;
        new[1] = 60;
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), vec![30, 4, 5, 60]);
        ring.pop();
        ring.pop();
        assert_eq!(ring.as_slices(), (&[5, 60][..], &[][..]));
    }
}
