use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    let (config, deprecated) = Config::parse(text, Path::new("test.toml"))?;
    assert_eq!(deprecated, [], "{text}");
    Ok(config)
}

#[test]
fn empty_file_is_the_builtin_default() {
    assert_eq!(parse("").unwrap(), Config::default());
}

#[test]
fn unknown_key_names_file_and_line() {
    let err = parse("[server]\nidle_exit_after = 5\nlisten_on = []\n").unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("test.toml:3: "), "{text}");
    assert!(text.contains("listen_on"), "{text}");
}

#[test]
fn bad_value_names_line() {
    let err = parse("[server]\n\nidle_exit_after = \"soon\"\n").unwrap_err();
    assert!(err.to_string().starts_with("test.toml:3: "), "{err}");
}

#[test]
fn printers_parse_with_device_uris() {
    let config = parse(
        "[[printer]]\nname = \"office\"\ndevice_uri = \"file:///tmp/out\"\n\
         [[printer]]\nname = \"lp0\"\ndevice_uri = \"device:///dev/usb/lp0\"\n",
    )
    .unwrap();
    assert_eq!(config.printers.len(), 2);
    assert_eq!(
        config.printers[0].device_uri,
        DeviceUri::File("/tmp/out".into())
    );
    assert_eq!(config.default_printer_name(), "office");
}

#[test]
fn bad_printer_name_and_uri_are_refused() {
    let err = parse("[[printer]]\nname = \"../x\"\ndevice_uri = \"file:///tmp\"\n").unwrap_err();
    assert!(err.to_string().contains("invalid printer name"), "{err}");
    let err = parse("[[printer]]\nname = \"x\"\ndevice_uri = \"http://evil\"\n").unwrap_err();
    assert!(err.to_string().contains("unknown scheme"), "{err}");
}

#[test]
fn duplicate_printer_and_dangling_default_are_refused() {
    let dup = "[[printer]]\nname = \"a\"\ndevice_uri = \"file:///t\"\n\
               [[printer]]\nname = \"a\"\ndevice_uri = \"file:///u\"\n";
    assert!(
        parse(dup)
            .unwrap_err()
            .to_string()
            .contains("defined twice")
    );
    let dangling = "[server]\ndefault_printer = \"nope\"\n\
                    [[printer]]\nname = \"a\"\ndevice_uri = \"file:///t\"\n";
    assert!(
        parse(dangling)
            .unwrap_err()
            .to_string()
            .contains("names no")
    );
}

#[test]
fn dropdir_section_sets_the_drop_directory() {
    let config = parse("[dropdir]\ndir = \"/srv/drop\"\ndisabled = true\n").unwrap();
    assert_eq!(
        config.dropdir,
        DropDirConfig {
            dir: Some("/srv/drop".into()),
            disabled: true,
        }
    );
}

#[test]
fn the_old_intake_section_still_works_with_a_deprecation_naming_its_line() {
    let text = "[server]\nidle_exit_after = 5\n\n[intake]\ndir = \"/srv/drop\"\n";
    let (config, deprecated) = Config::parse(text, Path::new("test.toml")).unwrap();
    assert_eq!(config.dropdir.dir, Some("/srv/drop".into()));
    let [warning] = deprecated.as_slice() else {
        panic!("{deprecated:?}");
    };
    assert_eq!((warning.old, warning.new), ("intake", "dropdir"));
    let text = warning.to_string();
    assert!(
        text.starts_with("test.toml:4: [intake] is deprecated"),
        "{text}"
    );
    assert!(text.contains("use [dropdir]"), "{text}");
}

#[test]
fn dropdir_and_intake_together_are_refused_naming_the_line() {
    let text = "[dropdir]\ndir = \"/a\"\n\n[intake]\ndir = \"/b\"\n";
    let err = Config::parse(text, Path::new("test.toml")).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("test.toml:4: "), "{text}");
    assert!(
        text.contains("[intake]") && text.contains("[dropdir]"),
        "{text}"
    );
}

#[test]
fn history_bounds_finished_jobs_in_memory() {
    assert_eq!(
        parse("").unwrap().history.max_jobs_in_memory,
        history::DEFAULT_MAX_JOBS_IN_MEMORY
    );
    let config = parse("[history]\nmax_jobs_in_memory = 20\n").unwrap();
    assert_eq!(config.history.max_jobs_in_memory, 20);
    let err = parse("[history]\nmax_jobs_in_memory = -1\n").unwrap_err();
    assert!(err.to_string().starts_with("test.toml:2: "), "{err}");
}

#[test]
fn job_private_values_default_to_cups_and_parse() {
    assert_eq!(
        parse("").unwrap().server.job_private_values,
        JobPrivateValues::DEFAULT
    );
    let none = parse("[server]\njob_private_values = []\n").unwrap();
    assert_eq!(none.server.job_private_values, JobPrivateValues::NONE);
    let none = parse("[server]\njob_private_values = [\"none\"]\n").unwrap();
    assert_eq!(none.server.job_private_values, JobPrivateValues::NONE);
    let name_only = parse("[server]\njob_private_values = [\"job-name\", \"phone\"]\n").unwrap();
    assert_eq!(
        name_only.server.job_private_values,
        JobPrivateValues {
            job_name: true,
            user_name: false
        }
    );
}

#[test]
fn unknown_job_private_value_names_line() {
    let err = parse("[server]\n\njob_private_values = [\"job-name\", \"all\"]\n").unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("test.toml:3: "), "{text}");
    assert!(text.contains("\"all\""), "{text}");
}

#[test]
fn the_readme_configuration_block_parses() {
    let readme = include_str!("../../README.md");
    let section = &readme[readme.find("## Configuration").expect("section")..];
    let start = section.find("```toml\n").expect("toml block") + "```toml\n".len();
    let block = &section[start..start + section[start..].find("```").expect("end")];
    let config = parse(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
    assert_eq!(config.server.job_private_values, JobPrivateValues::DEFAULT);
}

#[test]
fn limits_have_cups_like_defaults_and_refuse_zero_with_the_line() {
    let limits = parse("").unwrap().server.limits;
    assert_eq!(limits.max_active_jobs, 500);
    assert_eq!(limits.list_jobs_default_limit, 500);
    assert_eq!(limits.multiple_operation_timeout, 900);
    let config =
        parse("[server.limits]\nmax_active_jobs_per_user = 3\nhead_timeout = 5\n").unwrap();
    assert_eq!(config.server.limits.max_active_jobs_per_user, 3);
    assert_eq!(config.server.limits.head_timeout, 5);
    for key in [
        "max_active_jobs",
        "max_active_jobs_per_user",
        "max_connections_per_peer",
        "body_min_rate",
        "multiple_operation_timeout",
    ] {
        let err = parse(&format!("[server.limits]\n\n{key} = 0\n")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("test.toml:3: "), "{text}");
        assert!(text.contains("at least 1"), "{text}");
    }
}

#[test]
fn limits_that_contradict_each_other_name_the_line() {
    let err = parse("[server.limits]\nlist_jobs_max_limit = 10\nlist_jobs_default_limit = 20\n")
        .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("test.toml:3: "), "{text}");
    assert!(text.contains("list_jobs_max_limit"), "{text}");
    let err =
        parse("[server.limits]\nmax_connections = 4\nreserved_root_connections = 4\n").unwrap_err();
    assert!(err.to_string().starts_with("test.toml:3: "), "{err}");
    // Only the other key set: its line is named.
    let err = parse("[server.limits]\n\nlist_jobs_max_limit = 5\n").unwrap_err();
    assert!(err.to_string().starts_with("test.toml:3: "), "{err}");
}

#[test]
fn only_transport_limits_wait_for_a_restart() {
    let old = parse("").unwrap().server.limits;
    let jobs = parse("[server.limits]\nmax_active_jobs = 7\nlist_jobs_max_limit = 600\n")
        .unwrap()
        .server
        .limits;
    assert!(!jobs.differs_until_restart(&old));
    let transport = parse("[server.limits]\nhead_timeout = 5\n")
        .unwrap()
        .server
        .limits;
    assert!(transport.differs_until_restart(&old));
}
