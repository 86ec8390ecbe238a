//! The traffic tab's keys on a dashboard model (plain data, no engine): `y` copies the
//! selected exchange's response, `Y` its request and response, `e` opens its request in
//! the composer; the composer offers the methods seen in the traffic; an MCP tool result's
//! text content reads as text.

use crate::common;

use common::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;
use sidetop::api::Notice;
use sidetop::app::composer::Field;
use sidetop::app::msg::Effect;
use sidetop::app::state::{Overlay, State, Tab};
use sidetop::app::update::update;
use sidetop::config::ipc::RequestSpec;
use sidetop::ipc::protocol::{Exchange, Origin, Outcome};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const CONFIG: &str = r#"
[defaults]
autostart = false
[[sidecar]]
name = "tools"
command = ["python3", "{sidecars}/mcp_server.py"]
[sidecar.ipc]
protocol = "mcp"
[[sidecar]]
name = "web"
command = ["true"]
[sidecar.ipc]
protocol = "http"
url = "http://127.0.0.1:1"
[[sidecar]]
name = "lsp"
command = ["true"]
[sidecar.ipc]
protocol = "lsp"
"#;

const MCP_REPLY: &str = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"{\n  \"timezone\": \"Europe/Paris\",\n  \"datetime\": \"2026-11-22T22:00:00+01:00\"\n}"}],"isError":false}}"#;

fn exchange(sidecar: &str, method: &str, origin: Origin, request: &str, response: &str) -> Arc<Exchange> {
    Arc::new(Exchange {
        sidecar: sidecar.into(),
        at: SystemTime::now(),
        method: method.into(),
        origin,
        request: (origin != Origin::Sidecar).then(|| request.into()),
        response: Some(response.into()),
        latency: Some(Duration::from_micros(1234)),
        outcome: Outcome::Ok,
        status: None,
        spec: (origin != Origin::Sidecar).then(|| spec_sent(request)),
    })
}

/// The request as the engine built it before it went out, which it sends with the
/// exchange: a JSON-RPC message's method and params, or `METHOD /path` and a body.
fn spec_sent(request: &str) -> RequestSpec {
    match serde_json::from_str::<serde_json::Value>(request) {
        Ok(message) => RequestSpec::Rpc {
            method: message["method"].as_str().unwrap().into(),
            params: message.get("params").cloned(),
        },
        Err(_) => {
            let (first, body) = request.split_once('\n').unwrap_or((request, ""));
            let (method, path) = first.split_once(' ').unwrap();
            let body = (!body.is_empty()).then(|| serde_json::from_str(body).unwrap());
            RequestSpec::Http { method: method.into(), path: path.into(), body }
        }
    }
}

fn dashboard() -> (State, tempfile::TempDir) {
    let (mut state, dir) = offline_dashboard(CONFIG);
    state.color = false;
    let sent = [
        exchange(
            "tools",
            "tools/list",
            Origin::Operator,
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#,
            "{}",
        ),
        exchange(
            "tools",
            "tools/call",
            Origin::Operator,
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_current_time","arguments":{"timezone":"Europe/Paris"}}}"#,
            MCP_REPLY,
        ),
        exchange("tools", "notifications/message", Origin::Sidecar, "", r#"{"level":"info"}"#),
        exchange("web", "GET /price", Origin::Operator, "GET /price", "HTTP 200 OK\n\n{\"price\": 1}"),
        exchange("web", "POST /order", Origin::Load, "POST /order\n{\"qty\":2}", "HTTP 201 Created\n\n{}"),
    ];
    for e in sent {
        state.model.apply(Notice::Exchange(e));
    }
    (state, dir)
}

fn screen(state: &State) -> String {
    let mut terminal = Terminal::new(TestBackend::new(state.size.0, state.size.1)).unwrap();
    terminal.draw(|f| sidetop::ui::render(f, state)).unwrap();
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height)
        .map(|y| (0..buffer.area.width).map(|x| buffer[(x, y)].symbol()).collect::<String>() + "\n")
        .collect()
}

#[test]
fn y_and_big_y_copy_the_selected_exchange() {
    let (mut s, _d) = dashboard();
    press(&mut s, "4");
    assert_eq!(s.tab, Tab::Traffic);
    // Newest first: the notification the sidecar sent, then the tool call.
    let effects = press(&mut s, "y");
    assert_eq!(effects, [Effect::Copy("{\n  \"level\": \"info\"\n}\n".into())]);
    update(&mut s, key(KeyCode::Tab));
    press(&mut s, "j");
    let effects = press(&mut s, "y");
    let [Effect::Copy(text)] = effects.as_slice() else { panic!("{effects:?}") };
    assert!(
        text.contains("\"timezone\": \"Europe/Paris\"") && !text.contains("\\n"),
        "text content as JSON:\n{text}"
    );
    assert!(s.status.as_ref().unwrap().0.contains("copied the response of tools/call"));
    let effects = press(&mut s, "Y");
    let [Effect::Copy(text)] = effects.as_slice() else { panic!("{effects:?}") };
    assert!(text.starts_with("-> tools/call "), "{text}");
    assert!(
        text.contains("\nrequest\n{\n  \"id\": 7,") && text.contains("\"name\": \"get_current_time\""),
        "{text}"
    );
    assert!(text.contains("\nresponse\n{"), "{text}");
}

#[test]
fn e_opens_the_request_in_the_composer_to_send_again() {
    let (mut s, _d) = dashboard();
    press(&mut s, "4");
    update(&mut s, key(KeyCode::Tab));
    press(&mut s, "j");
    press(&mut s, "e");
    let Overlay::Composer(c) = &s.overlay else { panic!("composer: {:?}", s.status) };
    assert_eq!(c.method.text(), "tools/call");
    assert!(c.body.text().contains("\"name\": \"get_current_time\""), "{}", c.body.text());
    let effects = update(&mut s, key(KeyCode::F(5)));
    let [Effect::Request { spec, .. }] = effects.as_slice() else { panic!("{effects:?}") };
    assert_eq!(serde_json::to_value(spec).unwrap()["rpc"]["params"]["arguments"]["timezone"], "Europe/Paris");

    // A message the sidecar sent on its own has no request to edit.
    let (mut s, _d) = dashboard();
    press(&mut s, "4e");
    assert!(matches!(s.overlay, Overlay::None));
    assert!(s.status.as_ref().unwrap().0.contains("no request to edit"), "{:?}", s.status);

    // HTTP: method, path and body come back.
    let (mut s, _d) = dashboard();
    press(&mut s, "j4e");
    let Overlay::Composer(c) = &s.overlay else { panic!("composer: {:?}", s.status) };
    assert_eq!(
        (c.method.text(), c.path.text(), c.body.text()),
        ("POST".into(), "/order".into(), "{\n  \"qty\": 2\n}".into())
    );
}

#[test]
fn the_composer_offers_the_methods_seen_in_traffic() {
    let (mut s, _d) = dashboard();
    press(&mut s, "T");
    let Overlay::Composer(c) = &s.overlay else { panic!("composer") };
    assert_eq!((c.method.text().as_str(), c.field), ("", Field::Method), "no template: an empty method");
    assert_eq!(
        c.completions[..4],
        ["tools/call", "tools/list", "resources/list", "resources/read"],
        "what sidetop sent, newest first, then MCP's own methods"
    );
    assert!(screen(&s).contains("↑/↓ methods: tools/call, tools/list, resources/list"), "{}", screen(&s));
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::Down));
    let Overlay::Composer(c) = &s.overlay else { panic!() };
    assert_eq!(c.method.text(), "tools/list");
    update(&mut s, key(KeyCode::Up));
    let Overlay::Composer(c) = &s.overlay else { panic!() };
    assert_eq!(c.method.text(), "tools/call", "back up");
    // Typing narrows them.
    for _ in 0.."tools/call".len() {
        update(&mut s, key(KeyCode::Backspace));
    }
    press(&mut s, "tools/l");
    update(&mut s, key(KeyCode::Up));
    let Overlay::Composer(c) = &s.overlay else { panic!() };
    assert_eq!(c.method.text(), "tools/list");
}

#[test]
fn an_mcp_text_content_reads_as_text_in_the_exchange_pane() {
    let (mut s, _d) = dashboard();
    press(&mut s, "4");
    update(&mut s, key(KeyCode::Tab));
    press(&mut s, "j");
    update(&mut s, key(KeyCode::Enter));
    let shown = screen(&s);
    assert!(
        shown.contains("\"timezone\": \"Europe/Paris\"\n")
            || shown.contains("\"timezone\": \"Europe/Paris\" "),
        "{shown}"
    );
    assert!(!shown.contains("\\n") && !shown.contains("\\\"timezone"), "no escaped JSON string:\n{shown}");
}

#[test]
fn an_mcp_server_s_tools_are_templates_and_its_progress_shows_while_a_call_runs() {
    use sidetop::ipc::discovery::{Discovery, ServerInfo, Tool};
    let (mut s, _d) = dashboard();
    let tool = |name: &str, about: &str, schema: serde_json::Value| Tool {
        name: name.into(),
        description: Some(about.into()),
        input_schema: schema,
        execution: None,
    };
    let discovery = Discovery {
        server: Some(ServerInfo {
            name: "sidetop-example-mcp".into(),
            version: "1.2.0".into(),
            protocol_version: "2025-06-18".into(),
            capabilities: vec!["prompts".into(), "tools".into()],
        }),
        tools: vec![
            tool(
                "slow_task",
                "Reports progress while it works",
                serde_json::json!({"type": "object", "properties": {"steps": {"type": "integer", "default": 5}}}),
            ),
            tool(
                "add",
                "Add two numbers",
                serde_json::json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}),
            ),
        ],
        prompts: vec!["summarize".into()],
        ..Discovery::default()
    };
    s.model.apply(Notice::Discovered { sidecar: "tools".into(), discovery: Box::new(discovery) });
    press(&mut s, "4");
    assert!(
        screen(&s).contains(
            "MCP server: sidetop-example-mcp 1.2.0 · MCP 2025-06-18 · prompts, tools · 2 tools, 1 prompt"
        ),
        "{}",
        screen(&s)
    );
    press(&mut s, "T");
    let Overlay::Composer(c) = &s.overlay else { panic!("composer") };
    assert_eq!(
        (c.method.text().as_str(), c.templates.len()),
        ("tools/call", 2),
        "starts from the first tool"
    );
    assert!(c.body.text().contains("\"steps\": 5"), "{}", c.body.text());
    assert!(
        screen(&s).contains("template: slow_task (F2 next) — Reports progress while it works"),
        "{}",
        screen(&s)
    );
    update(&mut s, key(KeyCode::F(2)));
    let Overlay::Composer(c) = &s.overlay else { panic!() };
    assert!(
        c.body.text().contains("\"a\": 0") && c.body.text().contains("\"name\": \"add\""),
        "{}",
        c.body.text()
    );
    update(&mut s, key(KeyCode::F(2)));
    update(&mut s, key(KeyCode::F(5)));
    let progress = Arc::new(Exchange {
        sidecar: "tools".into(),
        at: SystemTime::now(),
        method: "notifications/progress".into(),
        origin: Origin::Sidecar,
        request: None,
        response: Some(r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":9,"progress":3,"total":6,"message":"step 3 of 6"}}"#.into()),
        latency: None,
        outcome: Outcome::Ok,
        status: None,
        spec: None,
    });
    s.model.apply(Notice::Exchange(progress));
    assert!(screen(&s).contains("sending… [mcp progress] 3/6 step 3 of 6"), "{}", screen(&s));
}

#[test]
fn pushes_ping_and_diagnostics_show_above_the_traffic() {
    use sidetop::api::LatencyInfo;
    use sidetop::ipc::discovery::{Discovery, ServerInfo};
    let (mut s, _d) = dashboard();
    let latency = LatencyInfo {
        pushes: vec![("heartbeat".into(), 12, 1.0), ("ticks".into(), 120, 9.8)],
        ping_us: Some(312),
        ..LatencyInfo::default()
    };
    s.model.apply(Notice::Latency { sidecar: "tools".into(), latency: Box::new(latency) });
    press(&mut s, "4");
    assert!(
        screen(&s).contains("ping 312µs · pushes: ticks 9.8/s (120), heartbeat 1.0/s (12)"),
        "{}",
        screen(&s)
    );

    let server = ServerInfo { name: "example-lsp".into(), version: "0.3.0".into(), ..ServerInfo::default() };
    let discovery = Discovery { server: Some(server), ..Discovery::default() };
    s.model.apply(Notice::Discovered { sidecar: "lsp".into(), discovery: Box::new(discovery) });
    let latency = LatencyInfo { diagnostics: Some((1, 2)), ..LatencyInfo::default() };
    s.model.apply(Notice::Latency { sidecar: "lsp".into(), latency: Box::new(latency) });
    press(&mut s, "jj");
    assert!(
        screen(&s).contains("language server: example-lsp 0.3.0 · diagnostics: 2 in 1 document"),
        "{}",
        screen(&s)
    );
}

#[test]
fn e_leaves_out_the_progress_token_sidetop_added() {
    let (mut s, _d) = dashboard();
    let mut sent = (*exchange(
        "tools",
        "tools/list",
        Origin::Operator,
        r#"{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{"_meta":{"progressToken":9}}}"#,
        "{}",
    ))
    .clone();
    // The engine keeps the request as built, before the MCP layer adds its token.
    sent.spec = Some(RequestSpec::Rpc { method: "tools/list".into(), params: None });
    s.model.apply(Notice::Exchange(Arc::new(sent)));
    press(&mut s, "4e");
    let Overlay::Composer(c) = &s.overlay else { panic!("composer: {:?}", s.status) };
    assert_eq!((c.method.text().as_str(), c.body.text().as_str()), ("tools/list", ""));
}
