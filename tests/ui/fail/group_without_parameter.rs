use appserver::route;

#[route(r"/(?P<object_type>\w+)/get/(?P<object_id>\d+)/")]
fn get_object(object_type: String) -> String {
    object_type
}

fn main() {}
