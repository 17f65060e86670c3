//! A writer that copies everything to two writers: seal and hash in the same stream.

use std::io::{self, Write};

/// Writes every byte to `primary` and then to `secondary`.
///
/// In `put`, the seal writer's output goes to `Tee::new(file, RootHasher::new())`: the
/// ciphertext lands on disk and is hashed as it is produced, so the file is read once.
#[derive(Debug)]
pub struct Tee<A, B> {
    primary: A,
    secondary: B,
}

impl<A: Write, B: Write> Tee<A, B> {
    /// Copy to both writers.
    pub fn new(primary: A, secondary: B) -> Self {
        Self { primary, secondary }
    }

    /// Both writers back, for example to `finish()` the hasher.
    pub fn into_inner(self) -> (A, B) {
        (self.primary, self.secondary)
    }

    /// The first writer.
    pub fn primary(&self) -> &A {
        &self.primary
    }

    /// The second writer.
    pub fn secondary(&self) -> &B {
        &self.secondary
    }
}

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The secondary sees exactly what the primary accepted, so the two never diverge.
        let n = self.primary.write(buf)?;
        self.secondary.write_all(buf.get(..n).unwrap_or(buf))?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.primary.flush()?;
        self.secondary.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_get_every_byte() {
        let mut tee = Tee::new(Vec::new(), Vec::new());
        tee.write_all(b"hello ").unwrap();
        tee.write_all(b"world").unwrap();
        let (a, b) = tee.into_inner();
        assert_eq!(a, b"hello world");
        assert_eq!(a, b);
    }
}
