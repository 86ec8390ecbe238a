//! Loader tests: each mistake a person makes names the right line, column and key.

use super::*;

fn err(src: &str) -> ConfigError {
    Config::parse(Path::new("t.toml"), src).expect_err("should fail")
}

fn ok(src: &str) -> Config {
    Config::parse(Path::new("dir/t.toml"), src).expect("should load")
}

#[test]
fn defaults_apply_and_sidecars_override() {
    let c = ok(r#"
[defaults]
restart = "always"
stop_timeout = "2s"
env = { A = "1", B = "2" }
backoff = { initial = "50ms" }

[[sidecar]]
name = "a"
command = ["echo", "hi"]
env = { B = "3" }
backoff = { multiplier = 3.0 }

[[sidecar]]
name = "b"
command = "echo $HOME"
shell = true
restart = "never"
cwd = "/tmp"
depends_on = ["a"]
"#);
    let a = &c.sidecars[0];
    assert_eq!(a.restart, RestartPolicy::Always);
    assert_eq!(a.stop_timeout, Duration::from_secs(2));
    assert_eq!(a.env, vec![("A".into(), "1".into()), ("B".into(), "3".into())]);
    assert_eq!(a.backoff.initial, Duration::from_millis(50));
    assert_eq!(a.backoff.multiplier, 3.0);
    assert_eq!(a.cwd, Path::new("dir/."));
    let b = &c.sidecars[1];
    assert_eq!(b.argv, vec!["sh", "-c", "echo $HOME"]);
    assert_eq!(b.restart, RestartPolicy::Never);
    assert_eq!(b.cwd, Path::new("/tmp"));
    assert_eq!(b.depends_on, vec!["a"]);
}

#[test]
fn unknown_key_names_line_column_and_key() {
    let e = err("[[sidecar]]\nname = \"a\"\ncommand = [\"x\"]\nrestrat = \"always\"\n");
    assert_eq!((e.line, e.column), (4, 1), "{e}");
    assert!(e.message.contains("unknown field `restrat`"), "{e}");
    assert!(e.key.starts_with("sidecar[0]"), "{e}");
}

#[test]
fn wrong_type_names_the_key() {
    let e = err("[[sidecar]]\nname = \"a\"\ncommand = [\"x\"]\nautostart = \"yes\"\n");
    assert_eq!((e.line, e.column, e.key.as_str()), (4, 13, "sidecar[0].autostart"), "{e}");
}

#[test]
fn bad_duration_and_signal() {
    let e = err("[[sidecar]]\nname = \"a\"\ncommand = [\"x\"]\nstop_timeout = \"5 parsecs\"\n");
    assert_eq!((e.line, e.key.as_str()), (4, "sidecar[0].stop_timeout"), "{e}");
    let e = err("[[sidecar]]\nname = \"a\"\ncommand = [\"x\"]\nstop_signal = \"SIGNOPE\"\n");
    assert_eq!((e.line, e.column, e.key.as_str()), (4, 15, "sidecar[0].stop_signal"), "{e}");
    assert!(e.message.contains("unknown signal"));
}

#[test]
fn duplicate_names_point_at_the_second() {
    let e =
        err("[[sidecar]]\nname = \"a\"\ncommand = [\"x\"]\n[[sidecar]]\nname = \"a\"\ncommand = [\"y\"]\n");
    assert_eq!((e.line, e.column, e.key.as_str()), (5, 8, "sidecar[1].name"), "{e}");
}

#[test]
fn missing_command_and_shell_string_without_shell() {
    let e = err("[[sidecar]]\nname = \"a\"\n");
    assert_eq!(e.line, 1, "{e}");
    assert!(e.message.contains("no `command`"), "{e}");
    let e = err("[[sidecar]]\nname = \"a\"\ncommand = \"echo hi\"\n");
    assert_eq!((e.line, e.key.as_str()), (3, "sidecar[0].command"), "{e}");
}

#[test]
fn unknown_dependency_and_cycle() {
    let e = err("[[sidecar]]\nname = \"a\"\ncommand = [\"x\"]\ndepends_on = [\"ghost\"]\n");
    assert_eq!((e.line, e.column, e.key.as_str()), (4, 15, "sidecar[0].depends_on[0]"), "{e}");
    let e = err("[[sidecar]]\nname = \"a\"\ncommand = [\"x\"]\ndepends_on = [\"b\"]\n\
         [[sidecar]]\nname = \"b\"\ncommand = [\"x\"]\ndepends_on = [\"a\"]\n");
    assert!(e.message.contains("dependency cycle: a -> b -> a"), "{e}");
    assert_eq!(e.line, 8, "{e}");
}

#[test]
fn not_toml_at_all() {
    let e = err("this is not toml\n");
    assert_eq!(e.line, 1, "{e}");
    let e = err("[[sidecar]]\nname = \"a\ncommand = [\"x\"]\n");
    assert_eq!(e.line, 2, "{e}");
}

#[test]
fn per_sidecar_keys_are_refused_in_defaults() {
    let e = err("[defaults]\nname = \"a\"\n[[sidecar]]\nname = \"a\"\ncommand = [\"x\"]\n");
    assert_eq!((e.line, e.key.as_str()), (2, "defaults.name"), "{e}");
}

#[test]
fn unreadable_file_names_the_file() {
    let e = Config::load(Path::new("/nonexistent/sidetop.toml")).unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/sidetop.toml: cannot read config"), "{e}");
}

const SIDECAR: &str = "[[sidecar]]\nname = \"a\"\ncommand = [\"x\"]\n";

#[test]
fn ipc_tables_load() {
    let c = ok(&format!(
        "{SIDECAR}[sidecar.ipc]\nprotocol = \"jsonrpc\"\nframing = \"content-length\"\ntimeout = \"1s\"\n\
         handshake = [{{ method = \"initialize\", params = {{}} }}, {{ method = \"initialized\", notification = true }}]\n\
         [sidecar.health]\nmethod = \"ping\"\ninterval = \"2s\"\n\
         [[sidecar.request]]\nname = \"p\"\nmethod = \"ping\"\n[[sidecar.request]]\nmethod = \"echo\"\nparams = [1]\n"
    ));
    let s = &c.sidecars[0];
    let ipc = s.ipc.as_ref().unwrap();
    assert_eq!(
        (ipc.framing, ipc.timeout, ipc.handshake.len()),
        (ipc::Framing::ContentLength, Duration::from_secs(1), 2)
    );
    assert!(ipc.handshake[1].notification);
    assert_eq!(s.requests.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["p", "echo"]);
    assert_eq!(s.health.as_ref().unwrap().interval, Duration::from_secs(2));
}

#[test]
fn ipc_mistakes_point_at_the_key() {
    let e = err(&format!("{SIDECAR}[sidecar.ipc]\nprotocol = \"smoke-signals\"\n"));
    assert_eq!((e.line, e.key.as_str()), (5, "sidecar[0].ipc.protocol"), "{e}");
    let e = err(&format!("{SIDECAR}[sidecar.ipc]\nprotocol = \"grpc\"\n"));
    assert!(e.message.contains("needs `address`"), "{e}");
    let e = err(&format!(
        "{SIDECAR}[sidecar.ipc]\nprotocol = \"jsonrpc\"\n[sidecar.health]\ngrpc_service = \"\"\n"
    ));
    assert_eq!(e.key, "sidecar[0].health.grpc_service", "{e}");
    let e = err(&format!("{SIDECAR}[sidecar.ipc]\nprotocol = \"http\"\n"));
    assert!(e.message.contains("needs `url`"), "{e}");
    let e = err(&format!("{SIDECAR}[sidecar.ipc]\nprotocol = \"jsonrpc\"\ntransport = \"tcp\"\n"));
    assert!(e.message.contains("needs `address`"), "{e}");
    let e = err(&format!(
        "{SIDECAR}[sidecar.ipc]\nprotocol = \"json-lines\"\n[[sidecar.request]]\nmethod = \"x\"\n"
    ));
    assert_eq!((e.line, e.key.as_str()), (7, "sidecar[0].request[0].method"), "{e}");
    let e = err(&format!("{SIDECAR}[[sidecar.request]]\nmethod = \"x\"\n"));
    assert!(e.message.contains("need a [sidecar.ipc]"), "{e}");
    let e = err(&format!("{SIDECAR}[sidecar.health]\nready_log = \"(unclosed\"\n"));
    assert_eq!((e.line, e.key.as_str()), (5, "sidecar[0].health.ready_log"), "{e}");
    let e = err(&format!(
        "{SIDECAR}[sidecar.ipc]\nprotocol = \"jsonrpc\"\n[sidecar.health]\nmethod = \"ping\"\nparams = 3\n"
    ));
    assert_eq!(e.key, "sidecar[0].health.params", "{e}");
}

#[test]
fn bad_defaults_are_reported_as_defaults() {
    let e = err("[defaults]\nmax_line = 10\n[[sidecar]]\nname = \"a\"\ncommand = [\"x\"]\nmax_line = 1000\n");
    assert_eq!((e.line, e.key.as_str()), (2, "defaults.max_line"), "{e}");
    let e = err("[defaults]\ndepends_on = []\n[[sidecar]]\nname = \"a\"\ncommand = [\"x\"]\n");
    assert_eq!(e.key, "defaults.depends_on", "{e}");
}

#[test]
fn strings_the_kernel_refuses_and_shared_log_files() {
    let e = err("[[sidecar]]\nname = \"a\"\ncommand = [\"x\"]\nenv = { \"A=B\" = \"1\" }\n");
    assert_eq!(e.key, "sidecar[0].env", "{e}");
    let e = err("[[sidecar]]\nname = \"a\"\ncommand = [\"x\\u0000y\"]\n");
    assert!(e.message.contains("NUL"), "{e}");
    let e = err("[[sidecar]]\nname = \"a\"\ncommand = [\"x\"]\nlog_file = \"l.log\"\n\
         [[sidecar]]\nname = \"b\"\ncommand = [\"x\"]\nlog_file = \"l.log\"\n");
    assert_eq!((e.line, e.key.as_str()), (8, "sidecar[1].log_file"), "{e}");
}

#[test]
fn secret_looking_variables_are_masked() {
    let c = ok(
        "[[sidecar]]\nname = \"a\"\ncommand = [\"x\"]\nenv = { PORT = \"80\", API_TOKEN = \"t0k\", db_password = \"pw\", SigningKey = \"k\", MY_SECRET_X = \"s\" }\n",
    );
    let shown = c.sidecars[0].shown_env().join(" ");
    assert!(shown.contains("PORT=80"), "{shown}");
    for secret in ["t0k", "pw", "=k", "=s "] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
    assert_eq!(shown.matches("********").count(), 4, "{shown}");
}

#[test]
fn a_sidecar_dir_makes_each_executable_a_sidecar() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    for (name, mode) in [("alpha", 0o755), ("beta", 0o755), ("notes.txt", 0o644)] {
        std::fs::write(plugins.join(name), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(plugins.join(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::fs::write(plugins.join("beta.toml"), "restart = \"never\"\nenv = { B = \"2\" }\n").unwrap();
    let path = dir.path().join("t.toml");
    let src = "[[sidecar_dir]]\npath = \"plugins\"\nrestart = \"always\"\nenv = { A = \"1\" }\n[sidecar_dir.ipc]\nprotocol = \"jsonrpc\"\n";
    let c = Config::parse(&path, src).unwrap();
    let names: Vec<&str> = c.sidecars.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["alpha", "beta"], "executables only");
    let (alpha, beta) = (&c.sidecars[0], &c.sidecars[1]);
    assert_eq!(alpha.argv, [plugins.join("alpha").display().to_string()]);
    assert_eq!(alpha.restart, RestartPolicy::Always);
    assert!(alpha.ipc.is_some(), "the folder's settings, ipc included");
    assert_eq!(beta.restart, RestartPolicy::Never, "NAME.toml overrides");
    assert_eq!(beta.env, vec![("A".into(), "1".into()), ("B".into(), "2".into())]);
    assert!(alpha.exe_stamp.is_some());
    assert_eq!(c.sidecar_dirs, [plugins]);
}

#[test]
fn sidecar_dir_mistakes_are_named() {
    let e = err("[[sidecar_dir]]\nrestart = \"always\"\n");
    assert!(e.render().contains("missing key `path`"), "{}", e.render());
    let e = err("[[sidecar_dir]]\npath = \"p\"\nname = \"x\"\n");
    assert!(e.render().contains("named after their files"), "{}", e.render());
    let e = err("[[sidecar]]\nname = \"a\"\ncommand = [\"x\"]\npath = \"p\"\n");
    assert!(e.render().contains("t.toml:4:8") && e.render().contains("[[sidecar_dir]]"), "{}", e.render());
}
