//! `rslim-sensor --listening`: the TCP ports something listens on in the
//! container's network namespace. The controller cannot tell from outside,
//! because docker-proxy accepts connections on published ports regardless.

use std::collections::BTreeSet;

/// The socket state number of LISTEN in /proc/net/tcp (include/net/tcp_states.h).
const TCP_LISTEN: &str = "0A";

/// Ports in LISTEN state in the contents of /proc/net/tcp or /proc/net/tcp6.
/// Lines are `sl local_address rem_address st ...` with `local_address` as `HEXADDR:HEXPORT`.
pub fn listening_ports(table: &str) -> BTreeSet<u16> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            if state != TCP_LISTEN {
                return None;
            }
            let (_, port) = local.rsplit_once(':')?;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

/// Prints the listening ports of both tables, one per line; a missing table
/// (no IPv6 in the container) counts as empty.
pub fn print_listening() -> i32 {
    let mut ports = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(contents) = std::fs::read_to_string(table) {
            ports.extend(listening_ports(&contents));
        }
    }
    for port in ports {
        println!("{port}");
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from a container running nginx (80 on v4 and v6) with one open client connection.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1918790 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 1918791 1 0000000000000000 100 0 0 10 0
   2: 020011AC:0050 010011AC:C6B4 01 00000000:00000000 00:00000000 00000000   101        0 1921322 1 0000000000000000 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1918792 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:1538 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1918793 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn only_listening_sockets_count() {
        assert_eq!(
            listening_ports(TCP).into_iter().collect::<Vec<_>>(),
            vec![80, 8080]
        );
        assert_eq!(
            listening_ports(TCP6).into_iter().collect::<Vec<_>>(),
            vec![80, 5432]
        );
    }

    #[test]
    fn headers_and_garbage_give_nothing() {
        assert!(listening_ports("").is_empty());
        assert!(
            listening_ports("  sl  local_address rem_address   st\n   0: nonsense\n").is_empty()
        );
    }

    #[test]
    fn the_live_table_has_a_listener_we_open() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let live = std::fs::read_to_string("/proc/net/tcp").unwrap();
        assert!(
            listening_ports(&live).contains(&port),
            "port {port} not found"
        );
        drop(listener);
        // Other tests fork, and a child inherits the socket until it exits:
        // give it a moment to be gone everywhere.
        let gone = (0..100).any(|_| {
            let live = std::fs::read_to_string("/proc/net/tcp").unwrap();
            let gone = !listening_ports(&live).contains(&port);
            if !gone {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            gone
        });
        assert!(gone, "port {port} still listening after 2 s");
    }
}
