//! The static sensor binary, built by build.rs and carried inside `rslim` so the
//! controller can upload it into the profiling container on any daemon, local or remote.

/// The bytes of the static `rslim-sensor` ELF, ready to upload as [`rslim_sensor::SENSOR_PATH`].
pub fn sensor_binary() -> &'static [u8] {
    include_bytes!(concat!(env!("OUT_DIR"), "/rslim-sensor"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use goblin::elf::program_header::{PT_DYNAMIC, PT_INTERP};
    use goblin::elf::Elf;

    #[test]
    fn the_embedded_sensor_is_a_static_executable() {
        let bytes = sensor_binary();
        let elf = Elf::parse(bytes).expect("the embedded sensor parses as ELF");
        let kind = elf.header.e_type;
        assert!(
            kind == goblin::elf::header::ET_EXEC || kind == goblin::elf::header::ET_DYN,
            "not an executable: e_type {kind}"
        );
        assert!(
            !elf.program_headers.iter().any(|ph| ph.p_type == PT_INTERP),
            "the sensor asks for a dynamic loader; it must run in images without libc"
        );
        assert!(elf.interpreter.is_none());
        assert!(elf.libraries.is_empty(), "DT_NEEDED: {:?}", elf.libraries);
        // A static-pie keeps a PT_DYNAMIC for its own relocations, with no DT_NEEDED.
        let has_dynamic = elf.program_headers.iter().any(|ph| ph.p_type == PT_DYNAMIC);
        assert_eq!(has_dynamic, elf.dynamic.is_some());
        assert!(
            bytes.len() > 100_000,
            "suspiciously small sensor: {} bytes",
            bytes.len()
        );
    }
}
