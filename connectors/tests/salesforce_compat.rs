//! Fidelity: the official-ish Python SDK (simple-salesforce, pinned) against the sandbox.
//!
//! simple-salesforce only builds `https://` URLs from the instance it is given, so this test
//! serves the sandbox over TLS with a throwaway CA made by rcgen, hands the CA to `requests`
//! through `REQUESTS_CA_BUNDLE`, and checks that truce itself trusts the same CA through
//! `HttpOptions::extra_ca_file`. No SDK code is patched.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use common::ConfigFor;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use truce_connectors::http::{HttpClient, HttpOptions};
use truce_connectors::salesforce::SalesforceConnector;
use truce_connectors::{Connector, ObjectType};
use truce_sandbox::salesforce::{SalesforceSandbox, SandboxOptions};

struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A CA (PEM) and a server config for 127.0.0.1 signed by it.
fn tls_material() -> (String, ServerConfig) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "truce compat test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (ca.pem(), config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_salesforce_works_against_the_sandbox() {
    const SEEDED: usize = 4500;
    let sandbox = SalesforceSandbox::new(SandboxOptions::default());
    sandbox.seed_leads(SEEDED, 21);
    let (ca_pem, tls) = tls_material();
    let dir = std::env::temp_dir().join(format!("truce-sf-compat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();

    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let base = format!("https://127.0.0.1:{port}");
    sandbox.set_instance_url(&base);
    let listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(Arc::new(tls)),
    };
    let server = tokio::spawn(axum::serve(listener, sandbox.router()).into_future());

    // truce trusts the extra CA from its options and talks TLS to the same sandbox.
    let http = HttpClient::new(&HttpOptions {
        extra_ca_file: Some(ca_file.clone()),
        ..HttpOptions::default()
    })
    .unwrap();
    let conn = SalesforceConnector::new(sandbox.config_for(&base), http).unwrap();
    let page = conn.scan(ObjectType::SalesforceLead, None).await.unwrap();
    assert_eq!(page.records.len(), 2000);

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/compat/salesforce_sdk.py"
    );
    let ensure = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/compat/ensure_venv.sh"
    );
    let opts = sandbox.options().clone();
    let output = tokio::task::spawn_blocking(move || {
        let venv = Command::new("bash").arg(ensure).output().unwrap();
        assert!(
            venv.status.success(),
            "ensure_venv.sh failed: {}",
            String::from_utf8_lossy(&venv.stderr)
        );
        let python = String::from_utf8(venv.stdout).unwrap().trim().to_string();
        Command::new(python)
            .arg(script)
            .env("SALESFORCE_LOGIN_URL", &base)
            .env("SALESFORCE_INSTANCE_URL", &base)
            .env("SALESFORCE_CLIENT_ID", &opts.client_id)
            .env("SALESFORCE_CLIENT_SECRET", &opts.client_secret)
            .env(
                "SALESFORCE_EXTERNAL_ID_FIELD",
                opts.external_id_field.clone().unwrap_or_default(),
            )
            .env("SALESFORCE_SEEDED_LEADS", SEEDED.to_string())
            .env("REQUESTS_CA_BUNDLE", &ca_file)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "simple-salesforce compat failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
