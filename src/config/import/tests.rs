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
