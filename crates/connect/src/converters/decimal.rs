//! Connect's `Decimal` logical type in its byte form: the unscaled value
//! as big-endian two's complement (Java's `BigInteger.toByteArray`), the
//! scale in the schema's `scale` parameter. Converters that write
//! decimals as numbers (`decimal.format=NUMERIC`, JSON Schema) turn those
//! bytes into decimal text and back here, with arbitrary precision: no
//! digit goes through a float.

use crate::data::{logical, Schema};

/// The scale of a Decimal schema (its `scale` parameter; Kafka requires
/// it, 0 when absent here).
pub fn scale_of(schema: &Schema) -> Result<i32, String> {
    match schema.parameters.get(logical::DECIMAL_SCALE) {
        None => Ok(0),
        Some(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("Invalid scale parameter {s:?} of a Decimal schema")),
    }
}

/// The shortest two's complement form of the same number (what Java
/// writes): redundant leading 0x00 / 0xFF bytes dropped; empty is zero.
pub fn minimal(bytes: &[u8]) -> Vec<u8> {
    if bytes.is_empty() {
        return vec![0];
    }
    let mut start = 0;
    while start + 1 < bytes.len() {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    bytes[start..].to_vec()
}

/// `bytes` sign-extended to `len` bytes (unchanged when already longer).
pub fn sign_extend(bytes: &[u8], len: usize) -> Vec<u8> {
    if bytes.len() >= len {
        return bytes.to_vec();
    }
    let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        0xFF
    } else {
        0x00
    };
    let mut out = vec![fill; len - bytes.len()];
    out.extend_from_slice(bytes);
    out
}

/// The decimal text of `unscaled` × 10^-`scale`, in plain notation
/// (`10.25`, `-0.05`, `1200` for scale -2).
pub fn to_text(unscaled: &[u8], scale: i32) -> String {
    let negative = unscaled.first().is_some_and(|b| b & 0x80 != 0);
    let magnitude = if negative {
        negate(unscaled)
    } else {
        unscaled.to_vec()
    };
    let mut digits = to_decimal_digits(&magnitude);
    if scale < 0 {
        if digits != "0" {
            digits.push_str(&"0".repeat(scale.unsigned_abs() as usize));
        }
    } else if scale > 0 {
        let scale = scale as usize;
        if digits.len() <= scale {
            digits = format!("{}{digits}", "0".repeat(scale + 1 - digits.len()));
        }
        digits.insert(digits.len() - scale, '.');
    }
    if negative {
        format!("-{digits}")
    } else {
        digits
    }
}

/// The unscaled bytes (minimal two's complement) of decimal `text` (plain
/// or with an exponent: `10.25`, `-1e3`) at `scale`. Refuses text whose
/// value would need rounding at that scale.
pub fn from_text(text: &str, scale: i32) -> Result<Vec<u8>, String> {
    let bad = || format!("{text:?} is not a decimal number");
    let t = text.trim();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (t, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    // The value is digits × 10^-(own scale); move it to the wanted scale.
    let mut digits = format!("{int_part}{frac_part}");
    let own_scale = frac_part.len() as i64 - i64::from(exponent);
    let shift = i64::from(scale) - own_scale;
    if shift >= 0 {
        if shift > 10_000 {
            return Err(format!("{text:?} has too many digits at scale {scale}"));
        }
        digits.push_str(&"0".repeat(shift as usize));
    } else {
        let drop = shift.unsigned_abs() as usize;
        let keep = digits.len().saturating_sub(drop);
        if digits[keep..].bytes().any(|b| b != b'0') {
            return Err(format!(
                "{text:?} has more fractional digits than the schema's scale {scale}"
            ));
        }
        digits.truncate(keep);
    }
    let mut magnitude = vec![0u8];
    for d in digits.bytes() {
        mul_add(&mut magnitude, 10, u32::from(d - b'0'));
    }
    // A leading zero byte keeps the sign bit clear before negating.
    magnitude.insert(0, 0);
    let bytes = if negative {
        negate(&magnitude)
    } else {
        magnitude
    };
    Ok(minimal(&bytes))
}

/// Two's complement negation of big-endian `bytes`.
fn negate(bytes: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = bytes.iter().map(|b| !b).collect();
    for b in out.iter_mut().rev() {
        let (v, overflow) = b.overflowing_add(1);
        *b = v;
        if !overflow {
            break;
        }
    }
    // The most negative value of a width negates to itself: widen it.
    if bytes.first().is_some_and(|b| b & 0x80 != 0) && out.first().is_some_and(|b| b & 0x80 != 0) {
        out.insert(0, 0);
    }
    out
}

/// `n = n * m + add` on a big-endian unsigned magnitude.
fn mul_add(n: &mut Vec<u8>, m: u32, add: u32) {
    let mut carry = add;
    for b in n.iter_mut().rev() {
        let v = u32::from(*b) * m + carry;
        *b = v as u8;
        carry = v >> 8;
    }
    while carry > 0 {
        n.insert(0, carry as u8);
        carry >>= 8;
    }
}

/// The decimal digits of a big-endian unsigned magnitude.
fn to_decimal_digits(magnitude: &[u8]) -> String {
    // Base 10^9 limbs, least significant first.
    let mut limbs: Vec<u32> = vec![0];
    for &byte in magnitude {
        let mut carry = u64::from(byte);
        for limb in limbs.iter_mut() {
            let v = u64::from(*limb) * 256 + carry;
            *limb = (v % 1_000_000_000) as u32;
            carry = v / 1_000_000_000;
        }
        while carry > 0 {
            limbs.push((carry % 1_000_000_000) as u32);
            carry /= 1_000_000_000;
        }
    }
    let mut out = limbs.last().copied().unwrap_or(0).to_string();
    for limb in limbs.iter().rev().skip(1) {
        out.push_str(&format!("{limb:09}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_through_unscaled_bytes() {
        // 1025 = 0x0401; -1025 = 0xFBFF.
        assert_eq!(from_text("10.25", 2).unwrap(), [0x04, 0x01]);
        assert_eq!(to_text(&[0x04, 0x01], 2), "10.25");
        assert_eq!(from_text("-10.25", 2).unwrap(), [0xFB, 0xFF]);
        assert_eq!(to_text(&[0xFB, 0xFF], 2), "-10.25");
        assert_eq!(to_text(&[0xFB], 3), "-0.005");
        assert_eq!(from_text("-0.005", 3).unwrap(), [0xFB]);
        assert_eq!(from_text("128", 0).unwrap(), [0x00, 0x80]);
        assert_eq!(from_text("-128", 0).unwrap(), [0x80]);
        assert_eq!(to_text(&[0x80], 0), "-128");
        assert_eq!(from_text("0", 4).unwrap(), [0]);
        assert_eq!(to_text(&[0], 2), "0.00");
        assert_eq!(to_text(&[0x0C], -2), "1200");
        assert_eq!(from_text("1.2e3", -2).unwrap(), [0x0C]);
        let big = "123456789012345678901234567890.123456789";
        assert_eq!(to_text(&from_text(big, 9).unwrap(), 9), big);
        let neg = "-98765432109876543210987654321";
        assert_eq!(to_text(&from_text(neg, 0).unwrap(), 0), neg);
    }

    #[test]
    fn text_is_rescaled_without_rounding() {
        assert_eq!(
            from_text("10.5", 2).unwrap(),
            from_text("10.50", 2).unwrap()
        );
        assert_eq!(from_text("10.500", 2).unwrap(), [0x04, 0x1A]);
        assert!(from_text("10.255", 2).is_err());
        assert!(from_text("ten", 2).is_err());
        assert!(from_text("", 2).is_err());
        assert!(from_text("1.2.3", 2).is_err());
    }

    #[test]
    fn minimal_and_sign_extend_are_inverse() {
        assert_eq!(minimal(&[0x00, 0x00, 0x7F]), [0x7F]);
        assert_eq!(minimal(&[0x00, 0x80]), [0x00, 0x80]);
        assert_eq!(minimal(&[0xFF, 0xFF, 0x80]), [0x80]);
        assert_eq!(minimal(&[0xFF, 0x7F]), [0xFF, 0x7F]);
        assert_eq!(sign_extend(&[0x80], 3), [0xFF, 0xFF, 0x80]);
        assert_eq!(minimal(&sign_extend(&[0x04, 0x01], 27)), [0x04, 0x01]);
    }
}
