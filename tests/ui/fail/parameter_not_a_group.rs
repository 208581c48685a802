use appserver::route;

#[route(r"/(?P<object_type>\w+)/get/(?P<object_id>\d+)/")]
fn get_object(object_type: String, object_id: u64, objectid: u64) -> String {
    format!("{object_type}{object_id}{objectid}")
}

fn main() {}
