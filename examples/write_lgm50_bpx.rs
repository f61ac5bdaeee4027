//! Writes `models/cells/lgm50_chen2020.bpx.json`, the shipped LG M50 (NMC811 | graphite-SiOx)
//! parameter set the demo and the cell studies use: Chen et al., J. Electrochem. Soc. 167, 080534
//! (2020), with the paper's fitted OCP functions (their eqs. for U_n and U_p) as BPX expression
//! strings and Nyman et al. (2008) electrolyte transport.
//!
//! ```text
//! cargo run --release --example write_lgm50_bpx
//! ```

use bridgelaw::cell::expr::Expr;
use bridgelaw::cell::{CellParams, Ocp, Pchip, to_bpx_json};
use std::sync::Arc;

/// Chen et al. (2020) fitted graphite-SiOx OCP [V] in the stoichiometry x.
const U_N: &str = "1.9793 * exp(-39.3631 * x) + 0.2482 - 0.0909 * tanh(29.8538 * (x - 0.1234)) \
                   - 0.04478 * tanh(14.9159 * (x - 0.2769)) - 0.0205 * tanh(30.4444 * (x - 0.6103))";
/// Chen et al. (2020) fitted NMC811 OCP [V] in the stoichiometry x.
const U_P: &str = "-0.8090 * x + 4.4875 - 0.0428 * tanh(18.5138 * (x - 0.5542)) \
                   - 17.7326 * tanh(15.7890 * (x - 0.3117)) + 17.5842 * tanh(15.9308 * (x - 0.3120))";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The tables only fill the slots; both OCPs are replaced by the paper's fitted functions.
    let placeholder = || Pchip::new(vec![0.0, 0.5, 1.0], vec![1.0, 0.5, 0.0], "placeholder");
    let mut p = CellParams::chen2020(placeholder()?, placeholder()?);
    p.neg.ocp = Ocp::Expr(Arc::new(Expr::parse(U_N)?));
    p.pos.ocp = Ocp::Expr(Arc::new(Expr::parse(U_P)?));
    let json = to_bpx_json(&p, "LG M50 (Chen et al. 2020), fitted OCP functions", &[]);
    let out = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/cells/lgm50_chen2020.bpx.json"
    );
    bridgelaw::output::write_atomic(std::path::Path::new(out), json.as_bytes())?;
    println!("wrote {out}");
    Ok(())
}
