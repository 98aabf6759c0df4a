//! Draws requests/s against concurrent connections, one line per variant,
//! from the load test's CSV (`load-test.sh` writes it):
//!
//! ```text
//! cargo run --release -p klamm-web-service --features chart --bin chart -- \
//!     results.csv chart.png --font /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
//! ```
//!
//! The CSV needs the columns `variant`, `connections` and `requests_per_s`
//! (others are ignored). Text is drawn with the TrueType file given by
//! `--font`, read at run time, so no C font library is linked.

use std::collections::BTreeMap;
use std::error::Error;

use plotters::prelude::*;

/// Variants in the order the legend lists them.
const ORDER: [&str; 5] = [
    "noop",
    "fire-and-forget",
    "callback",
    "callback-task",
    "await",
];

struct Cli {
    csv: String,
    png: String,
    font: String,
    title: String,
}

fn parse_cli() -> Result<Cli, String> {
    let mut positional = Vec::new();
    let mut font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".to_owned();
    let mut title = "POST /items: requests/s by concurrency".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--font" => font = args.next().ok_or("--font needs a path")?,
            "--title" => title = args.next().ok_or("--title needs a text")?,
            _ => positional.push(a),
        }
    }
    let [csv, png]: [String; 2] = positional
        .try_into()
        .map_err(|_| "usage: chart RESULTS.csv OUT.png [--font FILE.ttf] [--title TEXT]")?;
    Ok(Cli {
        csv,
        png,
        font,
        title,
    })
}

/// variant → [(connections, requests/s)], sorted by connections.
type Series = BTreeMap<String, Vec<(f64, f64)>>;

fn read_series(csv: &str) -> Result<Series, Box<dyn Error>> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().ok_or("empty CSV")?.split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| format!("CSV has no column {name}"))
    };
    let (v, c, r) = (col("variant")?, col("connections")?, col("requests_per_s")?);
    let mut series = Series::new();
    for (n, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |i: usize| {
            fields
                .get(i)
                .copied()
                .ok_or_else(|| format!("line {}: too few fields", n + 2))
        };
        let conns: f64 = get(c)?.parse()?;
        let rps: f64 = get(r)?.parse()?;
        series
            .entry(get(v)?.to_owned())
            .or_default()
            .push((conns, rps));
    }
    for points in series.values_mut() {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok(series)
}

fn main() -> Result<(), Box<dyn Error>> {
    let cli = parse_cli()?;
    let font = std::fs::read(&cli.font).map_err(|e| format!("font {}: {e}", cli.font))?;
    // plotters keeps registered fonts for the process's life.
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| format!("{} is not a usable TrueType font", cli.font))?;
    let series = read_series(&std::fs::read_to_string(&cli.csv)?)?;
    let max_conns = series.values().flatten().map(|p| p.0).fold(10.0, f64::max);
    let max_rps = series.values().flatten().map(|p| p.1).fold(1.0, f64::max);

    let root = BitMapBackend::new(&cli.png, (1000, 620)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&cli.title, ("sans-serif", 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..max_conns * 1.05, 0.0..max_rps * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("concurrent connections")
        .y_desc("requests/s")
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    let mut names: Vec<&String> = series.keys().collect();
    names.sort_by_key(|n| ORDER.iter().position(|o| o == n).unwrap_or(ORDER.len()));
    for (i, name) in names.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points = &series[name];
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
    println!("wrote {}", cli.png);
    Ok(())
}
