use super::*;

#[test]
fn detects_by_name_and_content() {
    let d = |name: &str, text: &str| detect(Path::new(name), text);
    assert_eq!(d("Procfile", ""), Some(Format::Procfile));
    assert_eq!(d("Procfile.dev", ""), Some(Format::Procfile));
    assert_eq!(d("mprocs.yaml", ""), Some(Format::Mprocs));
    assert_eq!(d("dev.yaml", "procs:\n  a: echo\n"), Some(Format::Mprocs));
    assert_eq!(d("pc.yml", "version: \"0.5\"\nprocesses:\n"), Some(Format::ProcessCompose));
    assert_eq!(d("app.conf", "[program:web]\ncommand=x\n"), Some(Format::Supervisord));
    assert_eq!(d("nginx.conf", "server {}\n"), None);
    assert_eq!(d("apps.json", r#"{"apps": [{"script": "a.js"}]}"#), Some(Format::Pm2));
    assert_eq!(d("package.json", r#"{"name": "x"}"#), None);
    assert_eq!(d("sidetop.toml", "[[sidecar]]\n"), None);
    assert_eq!(d("ecosystem.config.js", ""), Some(Format::Pm2));
}

/// Converts `text` written as `name` in a temp dir; the TOML must parse.
fn convert_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf, Result<Imported, ConfigError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let imported = import(&path);
    if let Ok(i) = &imported {
        crate::config::Config::parse(&path, &i.toml).unwrap_or_else(|e| panic!("{}\n{}", e.render(), i.toml));
    }
    (dir, path, imported)
}

fn sidecar_order(toml: &str) -> Vec<&str> {
    toml.lines().filter_map(|l| l.strip_prefix("name = \"")).map(|n| n.trim_end_matches('"')).collect()
}

#[test]
fn dependencies_come_first_and_cycles_are_errors_at_their_line() {
    let yaml = "procs:\n  web:\n    shell: echo web\n    deps: [db]\n  db:\n    shell: echo db\n";
    let (_d, _, imported) = convert_file("mprocs.yaml", yaml);
    assert_eq!(sidecar_order(&imported.unwrap().toml), ["db", "web"]);

    let cycle = "procs:\n  a:\n    shell: echo a\n    deps: [b]\n  b:\n    shell: echo b\n    deps: [a]\n";
    let (_d, path, imported) = convert_file("mprocs.yaml", cycle);
    let e = imported.unwrap_err();
    assert_eq!((e.file.as_path(), e.line), (path.as_path(), 7), "{e}");
    assert!(e.message.contains("dependency cycle"), "{e}");

    let unknown = "procs:\n  a:\n    shell: echo a\n    deps: [nope]\n";
    let (_d, _, imported) = convert_file("mprocs.yaml", unknown);
    let imported = imported.unwrap();
    assert!(
        imported.warnings.iter().any(|w| w.line == 4 && w.message.contains("\"nope\"")),
        "{:?}",
        imported.warnings
    );
}

#[test]
fn process_compose_replicas_liveness_and_policies() {
    let yaml = r#"
processes:
  web:
    command: "serve --port 80$${PC_REPLICA_NUM}"
    replicas: 3
    liveness_probe:
      exec:
        command: "curl -f localhost"
        working_dir: /srv
      period_seconds: 2
    availability:
      restart: exit_on_failure
    shutdown:
      signal: 15
      command: "kill-it"
  client:
    entrypoint: ["client", "--all"]
    depends_on:
      web:
        condition: process_started
"#;
    let (_d, _, imported) = convert_file("process-compose.yaml", yaml);
    let imported = imported.unwrap();
    let toml = &imported.toml;
    assert_eq!(sidecar_order(toml), ["web-0", "web-1", "web-2", "client"]);
    assert!(toml.contains(r#"command = ["bash", "-c", "serve --port 80${PC_REPLICA_NUM}"]"#), "{toml}");
    assert!(toml.contains(r#"exec = ["bash", "-c", "cd /srv && curl -f localhost"]"#), "{toml}");
    assert!(toml.contains("restart_on_unhealthy = true"));
    assert!(toml.contains(r#"depends_on = ["web-0", "web-1", "web-2"]"#), "{toml}");
    assert!(toml.contains(r#"PC_REPLICA_NUM = "2""#));
    let messages: Vec<&str> = imported.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(messages.iter().any(|m| m.starts_with("web-1: not imported: exit_on_failure")), "{messages:?}");
    assert!(messages.iter().any(|m| m.starts_with("web-0: not imported: shutdown.command")), "{messages:?}");
    assert!(
        messages.iter().any(|m| m.starts_with("client: approximated: depends_on web: process_started")),
        "{messages:?}"
    );
}

#[test]
fn supervisord_expansion_errors_point_at_the_option() {
    let conf = "[program:a]\ncommand=echo %(ENV_SIDETOP_SURELY_UNSET_X)s\n";
    let (_d, path, imported) = convert_file("supervisord.conf", conf);
    let e = imported.unwrap_err();
    assert_eq!((e.file.as_path(), e.line, e.key.as_str()), (path.as_path(), 2, "command"), "{e}");
    assert!(e.message.contains("cannot be expanded"), "{e}");

    let conf = "[program:a]\ncommand=date +%Y\n";
    let (_d, _, imported) = convert_file("supervisord.conf", conf);
    assert!(imported.unwrap_err().message.contains("write %% for a percent sign"));

    let conf = "[program:w]\ncommand=worker\nnumprocs=2\n";
    let (_d, _, imported) = convert_file("supervisord.conf", conf);
    assert!(imported.unwrap_err().message.contains("%(process_num) must be present"));
}

#[test]
fn pm2_json_apps_with_interpreters_and_restart_settings() {
    let json = r#"{"apps": [
        {"name": "api", "script": "app.py", "args": ["--port", 8000], "restart_delay": 2500,
         "kill_timeout": 5000, "log_file": "api.log", "error_file": "api.err", "stop_exit_codes": [0]},
        {"script": "bin/run.sh", "node_args": "--max-old-space-size=4096", "autorestart": false}
    ]}"#;
    let (_d, _, imported) = convert_file("ecosystem.config.json", json);
    let imported = imported.unwrap();
    let toml = &imported.toml;
    assert_eq!(sidecar_order(toml), ["api", "run"]);
    assert!(
        toml.contains(r#"command = ["python3", "app.py", "--port", "8000"]"#)
            || toml.contains(r#"command = ["python", "app.py""#),
        "{toml}"
    );
    assert!(toml.contains(r#"command = ["bash", "--max-old-space-size=4096", "bin/run.sh"]"#), "{toml}");
    assert!(toml.contains("initial = \"2500ms\"") && toml.contains("multiplier = 1.0"), "{toml}");
    assert!(toml.contains("stop_timeout = \"5s\""));
    let lines: Vec<(usize, &str)> = imported.warnings.iter().map(|w| (w.line, w.message.as_str())).collect();
    assert!(
        lines.iter().any(|(l, m)| *l == 3 && m.starts_with("api: not imported: error_file")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|(l, m)| *l == 3 && m.starts_with("api: not imported: stop_exit_codes")),
        "{lines:?}"
    );

    let (_d, path, imported) =
        convert_file("ecosystem.config.json", "{\"apps\": [\n  {\"script\": \"a.js\",}\n]}");
    let e = imported.unwrap_err();
    assert_eq!((e.file.as_path(), e.line), (path.as_path(), 2), "{e}");
}

#[test]
fn procfile_lines_foreman_ignores_are_warned_about() {
    let (_d, _, imported) = convert_file("Procfile", "web: rails s\nnot a process line\n");
    let imported = imported.unwrap();
    assert_eq!(sidecar_order(&imported.toml), ["web"]);
    assert!(imported.warnings.iter().any(|w| w.line == 2 && w.message.starts_with("not imported:")));
    assert!(imported.toml.contains("PORT = \"5000\""));
}
