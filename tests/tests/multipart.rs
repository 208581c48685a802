//! `multipart/form-data` bodies with the `Multipart` extractor, sent by curl `-F` over real
//! sockets: fields and files, the limits per field and in all, malformed bodies.

mod support;

use appserver::{Error, Multipart, Server, route};
use serde_json::{Value, json};
use support::{raw, start};

/// Each field: its name, file name, content type and size.
#[route(POST, r"/form/", max_body_bytes = 100_000)]
async fn form(mut form: Multipart) -> Result<Value, Error> {
    let mut fields = Vec::new();
    while let Some(mut field) = form.next_field().await? {
        let (name, file) = (field.name().map(str::to_owned), field.file_name().map(str::to_owned));
        let content_type = field.content_type().map(str::to_owned);
        let mut size = 0;
        while let Some(chunk) = field.chunk().await? {
            size += chunk.len();
        }
        fields.push(json!({"name": name, "file": file, "type": content_type, "size": size}));
    }
    Ok(Value::Array(fields))
}

/// `curl -F` each of `fields` to `/form/`: the status and the body.
fn curl(server: &appserver::RunningServer, fields: &[&str]) -> (u16, String) {
    let mut command = std::process::Command::new("curl");
    command.args(["-sS", "-w", "\n%{http_code}"]);
    for field in fields {
        command.args(["-F", field]);
    }
    let out = command.arg(format!("http://{}/form/", server.addr())).output().expect("curl runs");
    let out = String::from_utf8(out.stdout).unwrap();
    let (body, status) = out.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_owned())
}

#[test]
fn fields_and_files_arrive_with_their_names_types_and_sizes() {
    let server = start(Server::new());
    let dir = support::scratch_dir();
    let photo = dir.join("photo.png");
    std::fs::write(&photo, vec![7u8; 30_000]).unwrap();
    let file = format!("photo=@{};type=image/png", photo.display());
    let (status, body) = curl(&server, &["title=holiday", &file]);
    assert_eq!(status, 200, "{body}");
    let fields: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        fields,
        json!([
            {"name": "title", "file": null, "type": null, "size": 7},
            {"name": "photo", "file": "photo.png", "type": "image/png", "size": 30000}
        ])
    );
}

#[test]
fn past_a_field_limit_or_the_body_limit_is_a_413_and_bad_bodies_are_400_or_415() {
    let server = start(Server::new().max_field_bytes(Some(10_000)));
    let dir = support::scratch_dir();
    let big = dir.join("big.bin");
    std::fs::write(&big, vec![1u8; 20_000]).unwrap();
    let (status, body) = curl(&server, &["note=small", &format!("upload=@{}", big.display())]);
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        body,
        r#"{"error":{"status":413,"message":"the field `upload` is larger than the limit of 10000 bytes"}}"#
    );
    // The route's body limit, 100,000 bytes, over several fields.
    let server = start(Server::new());
    let huge = dir.join("huge.bin");
    std::fs::write(&huge, vec![2u8; 150_000]).unwrap();
    let (status, body) = curl(&server, &[&format!("upload=@{}", huge.display())]);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("request body is larger than the limit of 100000 bytes"), "{body}");
    // Malformed: the boundary never comes.
    let garbage = "POST /form/ HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
                   Content-Length: 11\r\nConnection: close\r\n\r\nhello world";
    let out = raw(server.addr(), garbage.as_bytes());
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    assert!(out.contains("malformed multipart body: "), "{out}");
    // Not a multipart body at all.
    let json = "POST /form/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\
                Connection: close\r\n\r\n{}";
    let out = raw(server.addr(), json.as_bytes());
    assert!(out.starts_with("HTTP/1.1 415 Unsupported Media Type\r\n"), "{out}");
    assert!(out.contains("expected a multipart/form-data body"), "{out}");
}
