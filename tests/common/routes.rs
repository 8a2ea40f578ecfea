//! The requests each example and fixture answers on code paths that `GET /`
//! (all that profiling sends without probe files) never runs. Shared by
//! tests/runtime_rules.rs, which checks the slim image answers them like the
//! original, and benches/rules.rs, which measures what each rule costs and
//! which answers break without it.

pub struct Routes {
    pub image: &'static str,
    pub port: u16,
    pub paths: &'static [&'static str],
}

pub const EXAMPLES: &[Routes] = &[
    Routes {
        image: "rslim-examples/nginx:fat",
        port: 80,
        paths: &["/", "/css/site.css", "/pages/about.html", "/no-such-page"],
    },
    Routes {
        image: "rslim-examples/python-app:fat",
        port: 8000,
        paths: &["/", "/json", "/hash?s=abc", "/db"],
    },
    Routes {
        image: "rslim-examples/shell-entry:fat",
        port: 8080,
        paths: &["/", "/index.html", "/missing.html"],
    },
];

pub const FIXTURES: &[Routes] = &[
    Routes {
        image: "rslim-fixtures/site:latest",
        port: 8090,
        paths: &[
            "/",
            "/css/site.css",
            "/img/logo.svg",
            "/no-such-page",
            "/files/",
            "/files/fares.csv",
            "/files/archive/",
        ],
    },
    Routes {
        image: "rslim-fixtures/pyapp:latest",
        port: 8091,
        paths: &[
            "/",
            "/hash?s=abc",
            "/db",
            "/tz?zone=Europe/Paris",
            "/tz?zone=America/New_York",
            "/wrap",
            "/encode?codec=cp1252",
            "/encode?codec=mac_roman",
            "/decimal",
            "/template",
            "/report",
            "/trust",
        ],
    },
    Routes {
        image: "rslim-fixtures/nodeapp:latest",
        port: 8092,
        paths: &["/", "/report", "/cities", "/zlib", "/esm", "/vendored"],
    },
    Routes {
        image: "rslim-fixtures/jvmapp:latest",
        port: 8093,
        paths: &[
            "/",
            "/sha256?s=abc",
            "/zip",
            "/tz?zone=Europe/Paris",
            "/mgmt",
            "/charset",
            "/tls",
            "/locale",
        ],
    },
    Routes {
        image: "rslim-fixtures/goapp:latest",
        port: 8094,
        paths: &[
            "/",
            "/time?zone=Europe/Paris",
            "/time?zone=America/New_York",
            "/zones",
            "/certs",
            "/mime?ext=.odt",
            "/mime?ext=.flac",
        ],
    },
    Routes {
        image: "rslim-fixtures/runsock:latest",
        port: 8095,
        paths: &["/", "/status"],
    },
    Routes {
        image: "rslim-fixtures/dbinit:latest",
        port: 8096,
        paths: &["/", "/schema", "/plugins"],
    },
    Routes {
        image: "rslim-fixtures/charsets:latest",
        port: 8097,
        paths: &["/", "/convert?to=ISO-8859-15", "/convert?to=IBM037"],
    },
    Routes {
        image: "rslim-fixtures/perlapp:latest",
        port: 8098,
        paths: &["/", "/sha", "/json", "/time", "/b64", "/sort", "/service"],
    },
    Routes {
        image: "rslim-fixtures/rubyapp:latest",
        port: 8099,
        paths: &["/", "/json", "/digest", "/time", "/csv", "/erb", "/set"],
    },
];

/// The routes of `image` (an example or a fixture), by its full name.
pub fn routes_of(image: &str) -> &'static Routes {
    EXAMPLES
        .iter()
        .chain(FIXTURES)
        .find(|r| r.image == image)
        .unwrap_or_else(|| panic!("no routes are listed for {image}"))
}
