//! Sealed findings: the app runs as root beside the sensor and could write
//! `/.rslim/findings.json` itself. The controller uploads a random key that
//! the sensor reads and removes before the app starts; the sensor prefixes
//! the findings with an HMAC-SHA256 over them under that key, and the
//! controller accepts only findings whose MAC checks. The app never sees the
//! key (the file is gone, and the sensor's memory is closed to it), so it
//! can delete or garble the findings but not forge them.

use sha2::{Digest, Sha256};

/// Bytes of the key the controller generates.
pub const KEY_BYTES: usize = 32;
const BLOCK: usize = 64;
/// `<64 hex digits of the MAC>\n` before the JSON.
const PREFIX_BYTES: usize = 65;

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn mac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The findings file: the MAC in hex, a newline, then `json`.
pub fn seal(key: &[u8], json: &[u8]) -> Vec<u8> {
    let mut sealed = hex(&mac(key, json)).into_bytes();
    sealed.push(b'\n');
    sealed.extend_from_slice(json);
    sealed
}

/// The JSON of a sealed findings file, if its MAC is right under `key`.
pub fn open<'a>(key: &[u8], sealed: &'a [u8]) -> Option<&'a [u8]> {
    if sealed.len() < PREFIX_BYTES || sealed[PREFIX_BYTES - 1] != b'\n' {
        return None;
    }
    let (prefix, json) = sealed.split_at(PREFIX_BYTES);
    let expected = hex(&mac(key, json));
    // Constant time: the app must not learn the MAC byte by byte.
    let difference = prefix[..PREFIX_BYTES - 1]
        .iter()
        .zip(expected.as_bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    (difference == 0).then_some(json)
}

/// What the MAC of a heartbeat covers: a fixed context, so that no other
/// sealed message can pass for one, and the sequence number.
fn heartbeat_message(sequence: u64) -> Vec<u8> {
    format!("rslim-heartbeat {sequence}").into_bytes()
}

/// The heartbeat file the controller uploads: `<sequence> <hex MAC>\n`. The
/// sequence grows with each renewal, so an old heartbeat, which the app can
/// read and keep writing back, renews nothing.
pub fn heartbeat(key: &[u8], sequence: u64) -> Vec<u8> {
    let mac = hex(&mac(key, &heartbeat_message(sequence)));
    format!("{sequence} {mac}\n").into_bytes()
}

/// The sequence number of a heartbeat file, if its MAC is right under `key`.
pub fn open_heartbeat(key: &[u8], bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(bytes).ok()?.strip_suffix('\n')?;
    let (sequence, given) = text.split_once(' ')?;
    let sequence: u64 = sequence.parse().ok()?;
    let expected = hex(&mac(key, &heartbeat_message(sequence)));
    let difference = given.len() ^ expected.len();
    let difference = given
        .bytes()
        .zip(expected.bytes())
        .fold(difference, |acc, (a, b)| acc | usize::from(a ^ b));
    (difference == 0).then_some(sequence)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_rfc_4231_test_vectors() {
        // Test case 2: key "Jefe".
        assert_eq!(
            hex(&mac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block size.
        assert_eq!(
            hex(&mac(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn only_the_key_holder_can_seal_findings() {
        let key = [7u8; KEY_BYTES];
        let sealed = seal(&key, br#"{"files":[]}"#);
        assert_eq!(open(&key, &sealed), Some(&br#"{"files":[]}"#[..]));
        assert_eq!(open(&[8u8; KEY_BYTES], &sealed), None, "another key");
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() = b' ';
        assert_eq!(open(&key, &altered), None, "altered JSON");
        assert_eq!(
            open(&key, br#"{"files":["/etc/shadow"]}"#),
            None,
            "unsealed"
        );
        assert_eq!(open(&key, b""), None);
    }

    #[test]
    fn only_the_key_holder_can_renew_the_heartbeat() {
        let key = [7u8; KEY_BYTES];
        let beat = heartbeat(&key, 12);
        assert_eq!(open_heartbeat(&key, &beat), Some(12));
        assert_eq!(
            open_heartbeat(&[8u8; KEY_BYTES], &beat),
            None,
            "another key"
        );
        // Another number under the same MAC, a truncated or padded file.
        let text = String::from_utf8(beat.clone()).unwrap();
        let forged = text.replacen("12 ", "13 ", 1);
        assert_eq!(open_heartbeat(&key, forged.as_bytes()), None);
        assert_eq!(open_heartbeat(&key, &beat[..beat.len() - 2]), None);
        assert_eq!(open_heartbeat(&key, &[&beat[..], b"x"].concat()), None);
        assert_eq!(open_heartbeat(&key, b""), None);
        // Sealed findings are no heartbeat, and the other way round.
        assert_eq!(open_heartbeat(&key, &seal(&key, b"12")), None);
        assert_eq!(open(&key, &beat), None);
    }
}
