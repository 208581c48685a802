use appserver::route;

#[route(POST, r"/upload/", max_body_bytes = "1 GiB")]
fn upload(body: appserver::Bytes) -> usize {
    body.len()
}

fn main() {}
