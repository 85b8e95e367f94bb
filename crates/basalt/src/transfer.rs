//! `basalt export` and `basalt import` (the format and the checks are
//! `basalt_store::transfer`'s), with a progress bar per class on a terminal.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::sync::Mutex;

use anyhow::{Context, bail};
use basalt_store::postgres::parse_server;
use basalt_store::transfer::{self, Progress, Summary};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{ExportArgs, ImportArgs};
use basalt::Existing;

use crate::open_store;

/// One bar per class on stderr, drawn only when stderr is a terminal.
struct Bars {
    current: Mutex<Option<ProgressBar>>,
}

impl Bars {
    fn new() -> Bars {
        Bars { current: Mutex::new(None) }
    }

    fn finish(&self) {
        if let Some(bar) = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            bar.finish();
        }
    }
}

impl Progress for Bars {
    fn class(&self, class_name: &str, total: u64) {
        let mut current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bar) = current.take() {
            bar.finish();
        }
        let bar = ProgressBar::with_draw_target(Some(total).filter(|total| *total > 0), ProgressDrawTarget::stderr());
        let template =
            if total > 0 { "{prefix:>24} [{bar:30}] {pos}/{len} {elapsed}" } else { "{prefix:>24} {pos} {elapsed}" };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(class_name.to_owned());
        *current = Some(bar);
    }

    fn advance(&self, count: u64) {
        if let Some(bar) = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref() {
            bar.inc(count);
        }
    }
}

/// Prints what moved, per class, on stderr.
fn report(summary: &Summary, verb: &str) {
    for (class_name, class) in summary {
        let relations: u64 = class.relations.values().sum();
        eprintln!(
            "{class_name}: {} objects, {relations} relation members, digest {}",
            class.objects,
            &class.digest[..16]
        );
    }
    eprintln!("{verb} {} classes", summary.len());
}

pub(crate) async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let store = open_store(&args.database, false, Existing::Required).await?;
    let bars = Bars::new();
    let summary = if args.to == "-" {
        let mut out = BufWriter::new(std::io::stdout().lock());
        transfer::export(store.as_ref(), &mut out, &bars).await
    } else {
        let file = std::fs::File::create(&args.to).with_context(|| format!("creating {}", args.to))?;
        let mut out = BufWriter::new(file);
        let summary = transfer::export(store.as_ref(), &mut out, &bars).await;
        out.into_inner().map_err(|error| error.into_error()).and_then(|file| file.sync_all())?;
        summary
    };
    bars.finish();
    let summary = summary.context("exporting")?;
    report(&summary, "exported");
    Ok(())
}

pub(crate) async fn import(args: ImportArgs) -> anyhow::Result<()> {
    // A database this import creates is removed again when the import fails: a refused or
    // broken import leaves nothing behind.
    let database = crate::database(&args.database, false)?;
    let created = !database.exists().await?;
    let store = database.open(Existing::Created).await?.store;
    let imported = import_into(store.as_ref(), &args).await;
    if imported.is_err() && created {
        drop(store);
        if let Err(error) = database.remove().await {
            eprintln!("could not remove the database this import created: {error:#}");
        }
    }
    imported
}

async fn import_into(store: &dyn basalt_store::Store, args: &ImportArgs) -> anyhow::Result<()> {
    let from = args.from.as_str();
    let bars = Bars::new();
    let summary = if from == "-" {
        let mut input = std::io::stdin().lock();
        transfer::import(store, &mut input, &bars).await
    } else if (from.starts_with("postgres://") || from.starts_with("postgresql://"))
        && parse_server::is_parse_server_database(from).await.context("reading the source database")?
    {
        // A Parse Server database: convert it to a temporary dump, then import that.
        let mut dump = tempfile::tempfile().context("creating a temporary dump")?;
        let skipped = {
            let mut out = BufWriter::new(&mut dump);
            let writer = transfer::DumpWriter::new(&mut out).context("writing the temporary dump")?;
            let (_, skipped) =
                parse_server::read(from, writer, &bars).await.context("reading the Parse Server database")?;
            out.flush()?;
            skipped
        };
        bars.finish();
        for class in &skipped.classes {
            eprintln!("left out: class {class}");
        }
        for field in &skipped.fields {
            eprintln!("left out: field {field}");
        }
        use std::io::Seek;
        dump.rewind()?;
        let mut input = BufReader::new(dump);
        transfer::import(store, &mut input, &bars).await
    } else if from.starts_with("sqlite://") || from.starts_with("postgres://") || from.starts_with("postgresql://") {
        // Another database: export it to a temporary dump, then import that.
        let source_args =
            crate::cli::DatabaseArgs { data_dir: args.database.data_dir.clone(), database_uri: Some(from.to_owned()) };
        let source = open_store(&source_args, false, Existing::Required).await?;
        let mut dump = tempfile::tempfile().context("creating a temporary dump")?;
        {
            let mut out = BufWriter::new(&mut dump);
            transfer::export(source.as_ref(), &mut out, &transfer::Quiet).await.context("reading the source")?;
            out.flush()?;
        }
        use std::io::Seek;
        dump.rewind()?;
        let mut input = BufReader::new(dump);
        transfer::import(store, &mut input, &bars).await
    } else {
        let file = std::fs::File::open(from).with_context(|| format!("opening {from}"))?;
        let mut input: Box<dyn BufRead> = Box::new(BufReader::new(file));
        transfer::import(store, &mut input, &bars).await
    };
    bars.finish();
    let summary = match summary {
        Ok(summary) => summary,
        Err(error) => bail!("importing: {error}"),
    };
    report(&summary, "imported and checked");
    Ok(())
}
