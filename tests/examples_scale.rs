//! `examples/scale.toml` documents every actuator option with its default:
//! it must parse, and say the defaults the code really has.

use std::path::Path;

use crest_actuator::config::ScaleConfig;
use crest_actuator::fleet::FleetOptions;

#[test]
fn the_documented_scale_config_parses_with_the_real_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scale.toml");
    let cfg = ScaleConfig::load(&path).expect("examples/scale.toml parses");
    assert_eq!(
        cfg.fleet,
        FleetOptions::default(),
        "[fleet] shows the defaults"
    );
    let ctd = cfg.containerd.expect("[containerd]");
    let minimal = format!(
        "[containerd]\nsocket = {:?}\nimage = {:?}\ncommand = {:?}\n[network]\nsubnet = {:?}\ndata_dir = {:?}\n[haproxy]\nsocket = {:?}\n",
        ctd.socket.display().to_string(),
        ctd.image,
        ctd.command,
        cfg.network.as_ref().unwrap().subnet,
        cfg.network.as_ref().unwrap().data_dir.display().to_string(),
        cfg.haproxy.as_ref().unwrap().socket,
    );
    let dflt = ScaleConfig::parse(&minimal, Path::new("minimal.toml")).unwrap();
    assert_eq!(
        dflt.containerd.unwrap(),
        ctd,
        "[containerd] shows the defaults"
    );
    assert_eq!(dflt.network, cfg.network, "[network] shows the defaults");
    assert_eq!(dflt.haproxy, cfg.haproxy, "[haproxy] shows the defaults");
}
