//! `[sip]` TLS keys and `tls_only` seats as the configuration reads them.

use hotlined::config::Config;

fn with(sip: &str, seat: &str) -> anyhow::Result<Config> {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/hotlined.toml"
    ))?;
    let text = example
        .replacen("[sip]\n", &format!("[sip]\n{sip}\n"), 1)
        .replacen(
            "[[seats]]\nid = \"1001\"\n",
            &format!("[[seats]]\nid = \"1001\"\n{seat}\n"),
            1,
        );
    Config::from_toml_str(
        &text,
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy")),
    )
}

#[test]
fn tls_keys_come_together_and_tls_only_seats_need_them() {
    with("", "").unwrap();
    let tls = "listen_tls = \"127.0.0.1:5061\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"";
    let cfg = with(tls, "tls_only = true").unwrap();
    assert!(
        cfg.sip.tls_cert.unwrap().is_absolute(),
        "rebased on the config's directory"
    );
    assert!(cfg.seats[0].tls_only);
    let e = with("listen_tls = \"127.0.0.1:5061\"", "").unwrap_err();
    assert!(format!("{e:#}").contains("all three"), "{e:#}");
    let e = with("", "tls_only = true").unwrap_err();
    assert!(format!("{e:#}").contains("tls_only"), "{e:#}");
}
