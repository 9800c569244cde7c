//! Fidelity: the official Python SDK (simple-salesforce, pinned) logs in to the sandbox by
//! itself and works with its revenue objects (`tests/compat/salesforce_sdk.py` at the
//! repository root, in its `sdk` mode).
//!
//! The SDK builds its login URLs from a domain (`https://{domain}.salesforce.com`), so the
//! sandbox is served over TLS with a certificate for those names (signed by a throwaway CA
//! made by rcgen, handed to `requests` through `REQUESTS_CA_BUNDLE`), and the SDK is given
//! an HTTPS proxy (its own `proxies` argument) that tunnels every `*.salesforce.com` host to
//! the sandbox. No SDK code is patched, and nothing leaves the loopback interface. The JWT
//! bearer login signs with an RSA key made here, whose certificate the sandbox's connected
//! app holds.
//!
//! Needs `python3` with `venv` (`tests/compat/ensure_venv.sh` creates the virtualenv once,
//! under `target/compat-venv`).
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_RSA_SHA256,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use truce_sandbox::salesforce::{DEFAULT_USER, SalesforceSandbox, SandboxOptions};

/// The org's My Domain, as the SDK's `domain` argument and as a host name.
const DOMAIN: &str = "truce-sandbox.my";
const HOSTS: [&str; 3] = [
    "truce-sandbox.my.salesforce.com",
    "login.salesforce.com",
    "test.salesforce.com",
];

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

/// An RSA key pair: aws-lc-rs makes it (rcgen's ring backend cannot generate RSA keys),
/// rcgen signs with it.
fn rsa_key() -> KeyPair {
    use aws_lc_rs::encoding::AsDer;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = pair.as_der().unwrap().as_ref().to_vec();
    KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(der), &PKCS_RSA_SHA256).unwrap()
}

/// A CA (PEM) and a server config for the Salesforce host names, signed by it.
fn tls_material() -> (String, ServerConfig) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "truce sandbox compat CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut leaf_params =
        CertificateParams::new(HOSTS.iter().map(|h| h.to_string()).collect::<Vec<_>>()).unwrap();
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, HOSTS[0]);
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

/// An HTTP CONNECT proxy that tunnels `*.salesforce.com:443` to `upstream` and refuses any
/// other target; records the hosts it tunnelled.
async fn proxy(listener: TcpListener, upstream: SocketAddr, seen: Arc<Mutex<Vec<String>>>) {
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            continue;
        };
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if head.len() > 8192 || client.read_exact(&mut byte).await.is_err() {
                    return;
                }
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let mut words = head.split_whitespace();
            let (method, target) = (words.next(), words.next().unwrap_or_default());
            let host = target.split(':').next().unwrap_or_default().to_string();
            if method != Some("CONNECT") || !host.ends_with(".salesforce.com") {
                let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n").await;
                return;
            }
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            seen.lock().unwrap().push(host);
            if client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .is_ok()
            {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_salesforce_logs_in_by_itself_and_works_with_revenue_objects() {
    const SEEDED: usize = 4500;
    let jwt_key = rsa_key();
    let jwt_cert = CertificateParams::new(vec!["truce-compat-app".to_string()])
        .unwrap()
        .self_signed(&jwt_key)
        .unwrap();
    let sandbox = SalesforceSandbox::new(SandboxOptions {
        jwt_certificate: Some(jwt_cert.pem()),
        users: vec![DEFAULT_USER.into()],
        ..SandboxOptions::default()
    });
    let leads = sandbox.seed_leads(SEEDED, 21);
    sandbox.convert_lead(&leads[7]).unwrap();
    let instance = format!("https://{}", HOSTS[0]);
    sandbox.set_instance_url(&instance);

    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, tls) = tls_material();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let key_file = dir.path().join("jwt-key.pem");
    std::fs::write(&key_file, jwt_key.serialize_pem()).unwrap();

    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = tcp.local_addr().unwrap();
    let listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(Arc::new(tls)),
    };
    let server = tokio::spawn(axum::serve(listener, sandbox.router()).into_future());
    let proxy_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy_listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tunnel = tokio::spawn(proxy(proxy_listener, upstream, seen.clone()));

    let compat = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/compat");
    let opts = sandbox.options().clone();
    let secret = opts.client_secret.clone();
    let converted = leads[7].clone();
    let output = tokio::task::spawn_blocking(move || {
        let venv = Command::new("bash")
            .arg(format!("{compat}/ensure_venv.sh"))
            .output()
            .unwrap();
        assert!(
            venv.status.success(),
            "ensure_venv.sh failed: {}",
            String::from_utf8_lossy(&venv.stderr)
        );
        let python = String::from_utf8(venv.stdout).unwrap().trim().to_string();
        Command::new(python)
            .arg(format!("{compat}/salesforce_sdk.py"))
            .env("SALESFORCE_LOGIN_MODE", "sdk")
            .env("SALESFORCE_DOMAIN", DOMAIN)
            .env("SALESFORCE_PROXY", &proxy_url)
            .env("SALESFORCE_INSTANCE_URL", &instance)
            .env("SALESFORCE_CLIENT_ID", &opts.client_id)
            .env("SALESFORCE_CLIENT_SECRET", &opts.client_secret)
            .env("SALESFORCE_JWT_USERNAME", DEFAULT_USER)
            .env("SALESFORCE_JWT_KEY_FILE", &key_file)
            .env(
                "SALESFORCE_EXTERNAL_ID_FIELD",
                opts.external_id_field.clone().unwrap_or_default(),
            )
            .env(
                "SALESFORCE_ACCOUNT_EXTERNAL_ID_FIELD",
                opts.account_external_id_field.clone().unwrap_or_default(),
            )
            .env("SALESFORCE_SEEDED_LEADS", SEEDED.to_string())
            .env("SALESFORCE_CONVERTED_LEAD", converted)
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
    tunnel.abort();
    assert!(
        output.status.success(),
        "simple-salesforce compat failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    let seen = seen.lock().unwrap().clone();
    for host in HOSTS {
        assert!(
            seen.iter().any(|h| h == host),
            "the SDK never called {host}: {seen:?}"
        );
    }
    let all = format!("{stdout}{stderr}");
    assert!(
        !all.contains(&secret),
        "the consumer secret appears in the SDK run's output"
    );
}
