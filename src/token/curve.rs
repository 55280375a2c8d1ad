//! Public-key checks at load: is an EC point on P-256 or P-384 (compressed points are
//! expanded), is an Ed25519 key a canonical
//! point of large order. ring checks the same on every verification but cannot say why it
//! failed; checking here makes a broken key an error naming the key when the key set loads,
//! not a 401 on every request. (P-521 keys are checked by the `p521` crate that verifies them.)
//!
//! The arithmetic is crypto-bigint's Montgomery form, generic over the width, which the
//! module already carries for P-521: a few hundred bytes of code where a curve crate per
//! curve would be tens of kilobytes.

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, Uint, U256, U384};

type Fe<const L: usize> = FixedMontyForm<L>;

/// A short-Weierstrass prime curve with `a = -3` (the NIST curves): its field prime and `b`.
struct NistCurve<const L: usize> {
    p: Odd<Uint<L>>,
    b: Uint<L>,
}

impl<const L: usize> NistCurve<L> {
    /// The uncompressed SEC1 form (`04 || x || y`) of `point` when it is a point on the
    /// curve, given uncompressed or compressed (`02`/`03 || x`): both coordinates below `p`
    /// and `y^2 = x^3 - 3x + b`. The cofactor of these curves is one, so a point on the curve
    /// is in the group; the point at infinity has no such encoding.
    fn point(&self, point: &[u8]) -> Option<Vec<u8>> {
        let width = Uint::<L>::BYTES;
        let (&tag, rest) = point.split_first()?;
        let compressed = match (tag, rest.len()) {
            (0x04, n) if n == 2 * width => false,
            (0x02 | 0x03, n) if n == width => true,
            _ => return None,
        };
        let p = self.p.as_ref();
        let x = Uint::<L>::from_be_slice(&rest[..width]);
        if &x >= p {
            return None;
        }
        let params = FixedMontyParams::new_vartime(self.p);
        let x = Fe::new(&x, &params);
        let rhs = x
            .square()
            .mul(&x)
            .sub(&x.double().add(&x))
            .add(&Fe::new(&self.b, &params));
        let y = if compressed {
            // p = 3 (mod 4) for both curves: the root is rhs^((p+1)/4), if rhs has one.
            let root = rhs.pow_vartime(&p.wrapping_add(&Uint::ONE).shr_vartime(2));
            let y = root.retrieve();
            let y = if y.is_odd().to_bool() == (tag == 0x03) {
                y
            } else {
                p.wrapping_sub(&y)
            };
            // The root of zero is zero, and zero has no odd twin.
            if &y >= p {
                return None;
            }
            y
        } else {
            let y = Uint::<L>::from_be_slice(&rest[width..]);
            if &y >= p {
                return None;
            }
            y
        };
        if Fe::new(&y, &params).square().retrieve() != rhs.retrieve() {
            return None;
        }
        let mut out = Vec::with_capacity(1 + 2 * width);
        out.push(0x04);
        out.extend_from_slice(&rest[..width]);
        out.extend_from_slice(y.to_be_bytes().as_ref());
        Some(out)
    }
}

/// The uncompressed form of a SEC1 point on P-256, or `None` when it is not one.
pub(crate) fn p256_point(point: &[u8]) -> Option<Vec<u8>> {
    NistCurve::<{ U256::LIMBS }> {
        p: Odd::<U256>::from_be_hex(
            "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
        ),
        b: U256::from_be_hex("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b"),
    }
    .point(point)
}

/// The uncompressed form of a SEC1 point on P-384, or `None` when it is not one.
pub(crate) fn p384_point(point: &[u8]) -> Option<Vec<u8>> {
    NistCurve::<{ U384::LIMBS }> {
        p: Odd::<U384>::from_be_hex(
            "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe\
             ffffffff0000000000000000ffffffff",
        ),
        b: U384::from_be_hex(
            "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875a\
             c656398d8a2ed19d2a85c8edd3ec2aef",
        ),
    }
    .point(point)
}

/// True when `key` is an Ed25519 public key RFC 8032 can decode (canonical `y`, a square for
/// `x^2`, no negative zero) whose point does not have small order (a weak key that would let
/// a forger satisfy the verification equation without the private key).
pub(crate) fn ed25519_key_is_sound(key: &[u8; 32]) -> bool {
    // p = 2^255 - 19.
    let p = Odd::<U256>::from_be_hex(
        "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed",
    );
    let params = FixedMontyParams::new_vartime(p);
    let mut le = *key;
    let sign = le[31] >> 7;
    le[31] &= 0x7f;
    let y = U256::from_le_slice(&le);
    if &y >= p.as_ref() {
        return false;
    }
    let small = |n: u64| Fe::new(&U256::from_u64(n), &params);
    let one = Fe::one(&params);
    // d = -121665 / 121666.
    let Some(inv) = small(121_666).invert_vartime().into_option() else {
        return false;
    };
    let d = small(121_665).neg().mul(&inv);
    let y = Fe::new(&y, &params);
    let yy = y.square();
    let u = yy.sub(&one);
    let v = d.mul(&yy).add(&one);
    let Some(v_inv) = v.invert_vartime().into_option() else {
        return false;
    };
    let xx = u.mul(&v_inv);
    let x = if xx.retrieve() == U256::ZERO {
        if sign == 1 {
            // x = 0 has no negative: RFC 8032 refuses the encoding.
            return false;
        }
        Fe::zero(&params)
    } else {
        // p = 5 (mod 8): a candidate root is xx^((p+3)/8); when its square is -xx, multiply
        // by sqrt(-1) = 2^((p-1)/4); when it is neither, xx is not a square.
        let exp = p.as_ref().wrapping_add(&U256::from_u64(3)).shr_vartime(3);
        let root = xx.pow_vartime(&exp);
        let root_sq = root.square();
        if root_sq.retrieve() == xx.retrieve() {
            root
        } else if root_sq.retrieve() == xx.neg().retrieve() {
            let quarter = p.as_ref().wrapping_sub(&U256::ONE).shr_vartime(2);
            root.mul(&small(2).pow_vartime(&quarter))
        } else {
            return false;
        }
    };
    // Small order means [8]P is the identity: three doublings (twisted Edwards, a = -1, in
    // projective coordinates) leave X = 0. No point has order 16, so X = 0 after three
    // doublings cannot be the order-2 point.
    let (mut x, mut y, mut z) = (x, y, one);
    for _ in 0..3 {
        let b = x.add(&y).square();
        let c = x.square();
        let d = y.square();
        let e = c.neg();
        let f = e.add(&d);
        let j = f.sub(&z.square().double());
        x = b.sub(&c).sub(&d).mul(&j);
        y = f.mul(&e.sub(&d));
        z = f.mul(&j);
    }
    x.retrieve() != U256::ZERO
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use jwt_simple::prelude::*;

    /// A fixed pseudo-random byte stream (xorshift), so every run checks the same inputs.
    fn stream(seed: u64) -> impl FnMut() -> u8 {
        let mut state = seed;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        }
    }

    #[test]
    fn nist_points_agree_with_the_p256_and_p384_crates() {
        for _ in 0..16 {
            let pair = ES256KeyPair::generate().public_key();
            let key = pair.public_key();
            let full = key.to_bytes_uncompressed();
            assert_eq!(p256_point(&full).as_deref(), Some(&full[..]));
            assert_eq!(p256_point(&key.to_bytes()).as_deref(), Some(&full[..]));
            let mut off = full.clone();
            off[64] ^= 1;
            assert_eq!(p256_point(&off), None);
            assert!(ES256PublicKey::from_bytes(&off).is_err());

            let pair = ES384KeyPair::generate().public_key();
            let key = pair.public_key();
            let full = key.to_bytes_uncompressed();
            assert_eq!(p384_point(&full).as_deref(), Some(&full[..]));
            assert_eq!(p384_point(&key.to_bytes()).as_deref(), Some(&full[..]));
            let mut off = full.clone();
            off[1] ^= 0x80;
            assert_eq!(p384_point(&off), None);
        }
        // An x with no point above it: both crates and this code refuse the compressed form.
        let mut next = stream(7);
        let (mut refused, mut accepted) = (0, 0);
        for _ in 0..64 {
            let mut compressed = vec![2 + (next() & 1)];
            compressed.extend((0..32).map(|_| next()));
            let ours = p256_point(&compressed);
            let theirs = ES256PublicKey::from_bytes(&compressed)
                .ok()
                .map(|k| k.public_key().to_bytes_uncompressed());
            assert_eq!(ours, theirs, "{compressed:02x?}");
            if ours.is_some() {
                accepted += 1
            } else {
                refused += 1
            }
        }
        assert!(accepted > 10 && refused > 10, "{accepted} {refused}");
        // Coordinates at or above p, wrong lengths and tags.
        let mut at_p = vec![4];
        at_p.extend([0xff; 64]);
        assert_eq!(p256_point(&at_p), None);
        assert_eq!(p256_point(&[4; 64]), None);
        assert_eq!(p256_point(&[]), None);
        assert_eq!(p384_point(&[0; 49]), None);
    }

    #[test]
    fn ed25519_keys_agree_with_ed25519_compact() {
        for _ in 0..16 {
            let key = Ed25519KeyPair::generate().public_key().to_bytes();
            let key: [u8; 32] = key.try_into().unwrap();
            assert!(ed25519_key_is_sound(&key));
        }
        let mut next = stream(11);
        let (mut sound, mut unsound) = (0, 0);
        for _ in 0..256 {
            let key: [u8; 32] = std::array::from_fn(|_| next());
            let ours = ed25519_key_is_sound(&key);
            assert_eq!(
                ours,
                Ed25519PublicKey::from_bytes(&key).is_ok(),
                "{key:02x?}"
            );
            if ours {
                sound += 1
            } else {
                unsound += 1
            }
        }
        assert!(sound > 50 && unsound > 50, "{sound} {unsound}");
        // The small-order points: y = 1 (identity), y = p - 1 (order 2), y = 0 (order 4) and
        // the two order-8 y values, each with either sign; and y = p, not canonical.
        let mut p_minus_1 = [0xff; 32];
        p_minus_1[0] = 0xec;
        p_minus_1[31] = 0x7f;
        let mut p = p_minus_1;
        p[0] = 0xed;
        let mut identity = [0; 32];
        identity[0] = 1;
        let order8 = |hex: &str| -> [u8; 32] {
            let mut be = [0u8; 32];
            for (i, byte) in be.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
            }
            be.reverse();
            be
        };
        // The order-8 y values are written big-endian (as libsodium's blocklist has them,
        // byte-reversed); ed25519-compact must refuse them too.
        let candidates = [
            identity,
            p_minus_1,
            [0; 32],
            p,
            order8("05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826"),
            order8("7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7"),
        ];
        for y in candidates {
            for sign in [0, 0x80] {
                let mut key = y;
                key[31] |= sign;
                assert!(!ed25519_key_is_sound(&key), "{key:02x?}");
                assert!(Ed25519PublicKey::from_bytes(&key).is_err(), "{key:02x?}");
            }
        }
    }
}
