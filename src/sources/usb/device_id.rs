//! The IEEE 1284 device ID a USB printer reports: `KEY:value;` pairs such
//! as `MFG:HP;MDL:LaserJet 1020;CMD:PJL,PCL;`.
//!
//! The bytes come from the device, so they are untrusted: the input is
//! bounded, keys are matched case-insensitively, values are trimmed and lose
//! control characters, invalid UTF-8 is replaced, and nothing here panics
//! (the `device_id` fuzz target checks this). Queue names derived from an ID
//! are always valid queue names (letters, digits, `-` and `_`, at most 127
//! bytes) and the same for the same printer, so a replugged printer finds
//! its queue and its pending jobs.

use crate::docformat;

/// Bytes of a device ID that are looked at. usblp caches at most 1024; the
/// 16-bit length field of the protocol allows 65535.
pub const MAX_ID_BYTES: usize = 4096;
/// Longest `raw` kept: the IPP `printer-device-id` is text(1023).
pub const MAX_RAW_BYTES: usize = 1023;
/// Longest manufacturer, model or serial number kept.
pub const MAX_FIELD_BYTES: usize = 255;
/// Most command-set entries kept.
pub const MAX_COMMANDS: usize = 32;
/// Longest queue name the configuration allows.
pub const MAX_QUEUE_NAME: usize = 127;
/// Longest serial number kept in a queue name; the rest of the name is
/// shortened first, because the serial is what tells two printers apart.
const MAX_NAME_SERIAL: usize = 63;
/// The queue name when the device says nothing usable about itself.
const FALLBACK_NAME: &str = "usb-printer";

/// What a printer says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceId {
    /// `MFG:` or `MANUFACTURER:`.
    pub manufacturer: Option<String>,
    /// `MDL:` or `MODEL:`.
    pub model: Option<String>,
    /// `SN:`, `SERN:` or `SERIALNUMBER:`.
    pub serial: Option<String>,
    /// `CMD:` or `COMMAND SET:`, split at commas, upper-cased.
    pub command_set: Vec<String>,
    /// The whole ID, printable and bounded, for `printer-device-id`.
    pub raw: String,
}

impl DeviceId {
    /// Fills fields the ID left out from the USB descriptors (iManufacturer,
    /// iProduct, iSerialNumber), which many printers set even when their
    /// 1284 ID has no `SN:`. Values are cleaned like the ID's own.
    pub fn fill_missing(
        &mut self,
        manufacturer: Option<&str>,
        model: Option<&str>,
        serial: Option<&str>,
    ) {
        fill(&mut self.manufacturer, manufacturer);
        fill(&mut self.model, model);
        fill(&mut self.serial, serial);
    }

    /// `printer-make-and-model`: "MFG MDL", without repeating the
    /// manufacturer when the model already starts with it ("HP" and
    /// "HP LaserJet 1020" give "HP LaserJet 1020").
    pub fn make_and_model(&self) -> Option<String> {
        match (&self.manufacturer, &self.model) {
            (Some(make), Some(model)) if starts_with_word(model, make) => Some(model.clone()),
            (Some(make), Some(model)) => Some(format!("{make} {model}")),
            (None, Some(model)) => Some(model.clone()),
            (Some(make), None) => Some(make.clone()),
            (None, None) => None,
        }
    }

    /// `document-format-supported` from the command set; always includes
    /// `application/octet-stream` (sent to the printer as it is).
    pub fn formats(&self) -> Vec<String> {
        let mut formats: Vec<String> = Vec::new();
        for command in &self.command_set {
            if let Some(mime) = mime_for_command(command)
                && !formats.iter().any(|f| f == mime)
            {
                formats.push(mime.to_string());
            }
        }
        formats.push(docformat::OCTET_STREAM.to_string());
        formats
    }
}

fn fill(field: &mut Option<String>, value: Option<&str>) {
    if field.is_none() {
        *field = value.and_then(|v| clean_field(v.as_bytes()));
    }
}

/// Whether `text` starts with `word` as a whole word, ignoring case.
fn starts_with_word(text: &str, word: &str) -> bool {
    let (t, w) = (text.as_bytes(), word.as_bytes());
    t.len() >= w.len()
        && t[..w.len()].eq_ignore_ascii_case(w)
        && t.get(w.len()).is_none_or(|&b| b == b' ')
}

/// The MIME type a command-set entry (printer language) stands for.
fn mime_for_command(command: &str) -> Option<&'static str> {
    match command {
        "PDF" => Some(docformat::PDF),
        "POSTSCRIPT" | "PS" | "POSTSCRIPT2" | "POSTSCRIPT3" | "BR-SCRIPT3" => {
            Some(docformat::POSTSCRIPT)
        }
        "PWG" | "PWGRASTER" | "PWG-RASTER" | "PWG_RASTER" => Some(docformat::PWG_RASTER),
        "JPEG" | "JPG" => Some(docformat::JPEG),
        "TEXT" | "TXT" => Some(docformat::TEXT),
        _ => None,
    }
}

/// Parses a device ID as the printer sent it, without the two length bytes
/// of the `LPIOC_GET_DEVICE_ID` answer. Never fails: whatever cannot be
/// understood is left out. For duplicate keys the first one counts.
pub fn parse_device_id(raw: &[u8]) -> DeviceId {
    let bytes = significant_bytes(raw);
    let mut id = DeviceId {
        raw: printable(bytes, MAX_RAW_BYTES),
        ..DeviceId::default()
    };
    for pair in bytes.split(|&b| b == b';') {
        let Some(colon) = pair.iter().position(|&b| b == b':') else {
            continue;
        };
        let (key, value) = (&pair[..colon], &pair[colon + 1..]);
        match Key::of(key) {
            Some(Key::Manufacturer) if id.manufacturer.is_none() => {
                id.manufacturer = clean_field(value)
            }
            Some(Key::Model) if id.model.is_none() => id.model = clean_field(value),
            Some(Key::Serial) if id.serial.is_none() => id.serial = clean_field(value),
            Some(Key::CommandSet) if id.command_set.is_empty() => {
                id.command_set = command_set(value)
            }
            _ => {}
        }
    }
    id
}

/// The part of the input that is the ID: at most [`MAX_ID_BYTES`], up to
/// the first NUL (ioctl buffers and C strings end there).
fn significant_bytes(raw: &[u8]) -> &[u8] {
    let bounded = &raw[..raw.len().min(MAX_ID_BYTES)];
    match bounded.iter().position(|&b| b == 0) {
        Some(end) => &bounded[..end],
        None => bounded,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Manufacturer,
    Model,
    Serial,
    CommandSet,
}

impl Key {
    fn of(key: &[u8]) -> Option<Key> {
        let key = key.trim_ascii();
        let is = |name: &str| key.eq_ignore_ascii_case(name.as_bytes());
        if is("MFG") || is("MANUFACTURER") {
            Some(Key::Manufacturer)
        } else if is("MDL") || is("MODEL") {
            Some(Key::Model)
        } else if is("SN") || is("SERN") || is("SERIALNUMBER") || is("SERIAL NUMBER") {
            Some(Key::Serial)
        } else if is("CMD") || is("COMMAND SET") || is("COMMANDSET") {
            Some(Key::CommandSet)
        } else {
            None
        }
    }
}

/// A value with control characters dropped, runs of white space made one
/// space, trimmed and bounded; `None` when nothing is left.
fn clean_field(value: &[u8]) -> Option<String> {
    let text = printable(value, MAX_FIELD_BYTES);
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = words.join(" ");
    (!joined.is_empty()).then_some(joined)
}

/// Lossy UTF-8 without control characters, cut to at most `max_bytes` at a
/// character boundary.
fn printable(bytes: &[u8], max_bytes: usize) -> String {
    let mut out = String::new();
    for c in String::from_utf8_lossy(bytes).chars() {
        if c.is_control() {
            continue;
        }
        if out.len() + c.len_utf8() > max_bytes {
            break;
        }
        out.push(c);
    }
    out
}

fn command_set(value: &[u8]) -> Vec<String> {
    value
        .split(|&b| b == b',')
        .filter_map(clean_field)
        .map(|c| c.to_ascii_uppercase())
        .take(MAX_COMMANDS)
        .collect()
}

/// A stable queue name for the printer: make and model, then the serial
/// number, with every run of other characters made one `_`
/// ("Test Virtual Printer" + "SN1" gives `Test_Virtual_Printer_SN1`). The
/// same printer always gets the same name; the result is always a valid
/// queue name of at most [`MAX_QUEUE_NAME`] bytes.
pub fn queue_name(id: &DeviceId) -> String {
    let model = id
        .make_and_model()
        .map(|m| sanitize_name(&m))
        .unwrap_or_default();
    let serial = id.serial.as_deref().map(sanitize_name).unwrap_or_default();
    let serial = truncate_name(&serial, MAX_NAME_SERIAL);
    match (model.is_empty(), serial.is_empty()) {
        (true, true) => FALLBACK_NAME.to_string(),
        (false, true) => truncate_name(&model, MAX_QUEUE_NAME).to_string(),
        (true, false) => format!("{FALLBACK_NAME}_{serial}"),
        (false, false) => {
            let room = MAX_QUEUE_NAME - serial.len() - 1;
            format!("{}_{serial}", truncate_name(&model, room))
        }
    }
}

/// Letters, digits and `-` stay; every run of anything else becomes one
/// `_`; no `_` or `-` at either end.
fn sanitize_name(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches(['_', '-']).to_string()
}

/// At most `max` bytes (the text is ASCII), without a separator at the end.
fn truncate_name(name: &str, max: usize) -> &str {
    let cut = &name[..name.len().min(max)];
    cut.trim_end_matches(['_', '-'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PrinterConfig;

    /// The configuration's own rule for queue names (its validator runs
    /// when a `[[printer]]` table is read).
    fn is_valid_queue_name(name: &str) -> bool {
        let table = format!("name = \"{name}\"\ndevice_uri = \"file:///tmp\"\n");
        !name.contains(['"', '\\']) && toml::from_str::<PrinterConfig>(&table).is_ok()
    }

    const HP: &[u8] = b"MFG:Hewlett-Packard;CMD:PJL,MLC,PML,POSTSCRIPT,PCLXL,PCL;MDL:HP LaserJet P2015 Series;CLS:PRINTER;DES:Hewlett-Packard LaserJet P2015 Series;MEM:MEM=23MB;COMMAND SET:ignored;";
    const EPSON: &[u8] = b"MFG:EPSON;CMD:ESCPL2,BDC,D4,D4PX,ESCPR1,END4,GENEP,PWGRaster;MDL:ET-2750 Series;CLS:PRINTER;DES:EPSON ET-2750 Series;CID:EpsonRGB;FID:FXN,DPA,WFA,ETN,AFN,DAN,WRA;RID:20;DDS:022500;ELG:1000;SN:583834593031343446;URF:CP1,PQ4-5,OB9,OFU0,RS360,SRGB24,W8,DM3,IS1-7-6,V1.4,MT1-3-7-8-10-11-12;";
    const BROTHER: &[u8] = b"MFG:Brother;CMD:PJL,PCL,PCLXL,URF,PDF;MDL:HL-L2350DW series;CLS:PRINTER;CID:Brother Laser Type1;URF:W8,CP1,IS4-1,MT1-3-4-5-8,OB10,PQ4,RS300-600,V1.3,DM1;";
    const GADGET: &[u8] = b"MFG:Test;MDL:Virtual Printer;CMD:PDF,PWG;CLS:PRINTER;";

    #[test]
    fn hp_style_id() {
        let id = parse_device_id(HP);
        assert_eq!(id.manufacturer.as_deref(), Some("Hewlett-Packard"));
        assert_eq!(id.model.as_deref(), Some("HP LaserJet P2015 Series"));
        assert_eq!(id.serial, None);
        // The first CMD counts; the later COMMAND SET is a duplicate.
        assert_eq!(
            id.command_set,
            ["PJL", "MLC", "PML", "POSTSCRIPT", "PCLXL", "PCL"]
        );
        assert_eq!(
            id.make_and_model().as_deref(),
            Some("Hewlett-Packard HP LaserJet P2015 Series")
        );
        assert_eq!(
            id.formats(),
            ["application/postscript", "application/octet-stream"]
        );
        assert_eq!(id.raw.as_bytes(), HP);
        assert_eq!(queue_name(&id), "Hewlett-Packard_HP_LaserJet_P2015_Series");
    }

    #[test]
    fn epson_style_id_with_serial_and_pwg() {
        let id = parse_device_id(EPSON);
        assert_eq!(id.make_and_model().as_deref(), Some("EPSON ET-2750 Series"));
        assert_eq!(id.serial.as_deref(), Some("583834593031343446"));
        assert_eq!(
            id.formats(),
            ["image/pwg-raster", "application/octet-stream"]
        );
        assert_eq!(queue_name(&id), "EPSON_ET-2750_Series_583834593031343446");
    }

    #[test]
    fn brother_style_id_without_serial_takes_usb_serial() {
        let mut id = parse_device_id(BROTHER);
        assert_eq!(
            id.formats(),
            ["application/pdf", "application/octet-stream"]
        );
        id.fill_missing(
            Some("Brother Industries, Ltd"),
            Some("HL-L2350DW"),
            Some("E78231K0N123456"),
        );
        // The ID's own manufacturer and model win over the descriptors.
        assert_eq!(
            id.make_and_model().as_deref(),
            Some("Brother HL-L2350DW series")
        );
        assert_eq!(queue_name(&id), "Brother_HL-L2350DW_series_E78231K0N123456");
    }

    #[test]
    fn virtual_printer_of_the_vm_test() {
        let mut id = parse_device_id(GADGET);
        id.fill_missing(Some("Test"), Some("Virtual Printer"), Some("SN1"));
        assert_eq!(id.make_and_model().as_deref(), Some("Test Virtual Printer"));
        assert_eq!(queue_name(&id), "Test_Virtual_Printer_SN1");
        assert_eq!(
            id.formats(),
            [
                "application/pdf",
                "image/pwg-raster",
                "application/octet-stream"
            ]
        );
    }

    #[test]
    fn model_repeating_the_manufacturer_is_not_doubled() {
        let id = parse_device_id(b"MFG:HP;MDL:hp LaserJet 1020;");
        assert_eq!(id.make_and_model().as_deref(), Some("hp LaserJet 1020"));
        // "HPE" is not the word "HP".
        let id = parse_device_id(b"MFG:HP;MDL:HPE Thing;");
        assert_eq!(id.make_and_model().as_deref(), Some("HP HPE Thing"));
    }

    #[test]
    fn long_keys_lower_case_and_white_space() {
        let id = parse_device_id(
            b"  manufacturer : ACME Corp ;model:  Laser\t 9000 ;SerialNumber: X-1 ;command set: pdf , ps ;",
        );
        assert_eq!(id.manufacturer.as_deref(), Some("ACME Corp"));
        assert_eq!(id.model.as_deref(), Some("Laser 9000"));
        assert_eq!(id.serial.as_deref(), Some("X-1"));
        assert_eq!(id.command_set, ["PDF", "PS"]);
        assert_eq!(
            id.formats(),
            [
                "application/pdf",
                "application/postscript",
                "application/octet-stream"
            ]
        );
        assert_eq!(queue_name(&id), "ACME_Corp_Laser_9000_X-1");
    }

    #[test]
    fn missing_fields() {
        let id = parse_device_id(b"CLS:PRINTER;");
        assert_eq!(id.make_and_model(), None);
        assert_eq!(id.formats(), ["application/octet-stream"]);
        assert_eq!(queue_name(&id), "usb-printer");

        let id = parse_device_id(b"SN:abc;");
        assert_eq!(queue_name(&id), "usb-printer_abc");

        let id = parse_device_id(b"MFG:;MDL:   ;SN:\x01\x02;");
        assert_eq!(id.manufacturer, None);
        assert_eq!(id.model, None);
        assert_eq!(id.serial, None);
        assert_eq!(queue_name(&id), "usb-printer");

        let id = parse_device_id(b"");
        assert_eq!(id, DeviceId::default());
    }

    #[test]
    fn duplicate_keys_first_wins() {
        let id = parse_device_id(b"MDL:First;MODEL:Second;MDL:Third;SN:1;SN:2;");
        assert_eq!(id.model.as_deref(), Some("First"));
        assert_eq!(id.serial.as_deref(), Some("1"));
    }

    #[test]
    fn control_characters_never_survive() {
        let id = parse_device_id(b"MFG:Ev\x1b[31mil;MDL:Line\nBreak\r;SN:\x7f9;");
        assert_eq!(id.manufacturer.as_deref(), Some("Ev[31mil"));
        assert_eq!(id.model.as_deref(), Some("LineBreak"));
        assert_eq!(id.serial.as_deref(), Some("9"));
        assert!(!id.raw.chars().any(char::is_control));
        assert!(is_valid_queue_name(&queue_name(&id)));
    }

    #[test]
    fn stops_at_nul() {
        let id = parse_device_id(b"MFG:A;MDL:B;\0MDL:hidden;SN:junk;");
        assert_eq!(id.model.as_deref(), Some("B"));
        assert_eq!(id.serial, None);
        assert_eq!(id.raw, "MFG:A;MDL:B;");
    }

    #[test]
    fn garbage_gives_a_valid_name() {
        for input in [
            &b";;;:::;:;"[..],
            b"no separators at all",
            b":::MDL",
            b"MDL:;;;MFG",
            b"MDL:../../etc/passwd;SN:.hidden;",
            b"MDL:___---___;SN:-_-;",
            b"\xff\xfe\xfd",
        ] {
            let name = queue_name(&parse_device_id(input));
            assert!(is_valid_queue_name(&name), "{input:?} gave {name:?}");
        }
        let id = parse_device_id(b"MDL:../../etc/passwd;SN:.hidden;");
        assert_eq!(queue_name(&id), "etc_passwd_hidden");
    }

    #[test]
    fn non_utf8_is_replaced_not_rejected() {
        let id = parse_device_id(b"MFG:Caf\xe9;MDL:Dr\xc3\xbcck\xff;SN:7;");
        assert_eq!(id.manufacturer.as_deref(), Some("Caf\u{fffd}"));
        assert_eq!(id.model.as_deref(), Some("Dr\u{fc}ck\u{fffd}"));
        assert_eq!(queue_name(&id), "Caf_Dr_ck_7");
    }

    #[test]
    fn huge_input_is_bounded() {
        let mut input = b"MFG:".to_vec();
        input.extend(std::iter::repeat_n(b'M', 100_000));
        input.extend_from_slice(b";SN:");
        input.extend(std::iter::repeat_n(b'9', 500));
        input.push(b';');
        let id = parse_device_id(&input);
        assert_eq!(
            id.manufacturer.as_ref().map(String::len),
            Some(MAX_FIELD_BYTES)
        );
        // SN lies beyond MAX_ID_BYTES: never looked at.
        assert_eq!(id.serial, None);
        assert_eq!(id.raw.len(), MAX_RAW_BYTES);
        let name = queue_name(&id);
        assert!(is_valid_queue_name(&name));
        assert!(name.len() <= MAX_QUEUE_NAME);

        let many = "CMD:".to_string() + &"PDF,".repeat(1000);
        assert_eq!(
            parse_device_id(many.as_bytes()).command_set.len(),
            MAX_COMMANDS
        );
    }

    #[test]
    fn long_names_keep_the_serial() {
        let model = "M".repeat(300);
        let serial = "S".repeat(40);
        let id = parse_device_id(format!("MDL:{model};SN:{serial};").as_bytes());
        let name = queue_name(&id);
        assert_eq!(name.len(), MAX_QUEUE_NAME);
        assert!(name.ends_with(&format!("_{serial}")), "{name}");

        let serial = "S".repeat(200);
        let id = parse_device_id(format!("MDL:x;SN:{serial};").as_bytes());
        let name = queue_name(&id);
        assert_eq!(name, format!("x_{}", "S".repeat(MAX_NAME_SERIAL)));
    }

    #[test]
    fn multibyte_characters_are_cut_at_boundaries() {
        let model = "é".repeat(400);
        let id = parse_device_id(format!("MDL:{model};").as_bytes());
        let kept = id.model.unwrap_or_default();
        assert!(kept.len() <= MAX_FIELD_BYTES);
        assert!(kept.chars().all(|c| c == 'é'));
    }

    #[test]
    fn same_printer_same_name() {
        let a = parse_device_id(EPSON);
        let b = parse_device_id(EPSON);
        assert_eq!(queue_name(&a), queue_name(&b));
    }
}
