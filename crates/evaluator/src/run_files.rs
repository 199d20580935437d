//! TREC output: the rankings an evaluation keeps for its run files ([`RunExport`]), and the
//! `SETTING/run.trec` + `SETTING/qrels.trec` files written from them.

use std::collections::BTreeMap;
use std::path::Path;

use polyret_files::{AtomicFile, NewDirs};

use crate::error::{EvalError, Result};
use crate::report::{QueryUnit, Setting, TrecFiles};
use crate::trec::{write_qrels_line, write_run_line};

/// The rankings of the exported settings ([`crate::EvalOptions::trec`]), kept until the
/// evaluation is written.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunExport {
    /// Settings whose rankings are kept.
    pub settings: Vec<Setting>,
    /// Document id of each corpus position (empty when nothing is exported).
    pub docids: Vec<String>,
    /// The kept rankings, in evaluation order (the order of the run files' lines).
    pub rankings: Vec<ExportedRanking>,
}

/// One ranking's lines in the run and qrels files.
#[derive(Clone, Debug)]
pub(crate) struct ExportedRanking {
    /// Its unit among the evaluation's units (setting and run query id).
    pub unit: usize,
    /// Exported prefix of the ranking: (corpus position, score), best first.
    pub run: Vec<(usize, f32)>,
    /// (corpus position, grade) of its judged documents.
    pub judged: Vec<(usize, i32)>,
}

impl RunExport {
    /// Writes the files of every exported setting that has rankings under `dir`, tagging run
    /// lines with `tag`; describes the files written. On an error nothing is left behind.
    pub fn write(&self, dir: &Path, units: &[QueryUnit], tag: &str) -> Result<BTreeMap<String, TrecFiles>> {
        let mut writers = TrecWriters::open(dir, &self.settings)?;
        for ranking in &self.rankings {
            let unit = &units[ranking.unit];
            let Some((run, qrels, written)) = writers.files.get_mut(&unit.setting) else { continue };
            *written += 1;
            for (i, &(pos, score)) in ranking.run.iter().enumerate() {
                write_run_line(run.writer(), &unit.run_qid, &self.docids[pos], i + 1, score, tag)
                    .map_err(|e| run.error(e))?;
            }
            for &(pos, grade) in &ranking.judged {
                write_qrels_line(qrels.writer(), &unit.run_qid, &self.docids[pos], grade)
                    .map_err(|e| qrels.error(e))?;
            }
        }
        writers.commit(dir)
    }
}

/// Open run/qrels files of the exported settings. Dropped without [`TrecWriters::commit`]
/// (writing failed), it leaves nothing behind: the temporaries go, then the folders it created.
struct TrecWriters {
    /// Setting → (run, qrels, rankings written).
    files: BTreeMap<Setting, (AtomicFile, AtomicFile, usize)>,
    /// Folders created for the files, newest first (so a parent goes after its children).
    /// Declared after `files`: dropped after the temporaries in them.
    dirs: Vec<NewDirs>,
}

impl TrecWriters {
    fn open(dir: &Path, settings: &[Setting]) -> Result<Self> {
        let mut writers = Self { files: BTreeMap::new(), dirs: Vec::new() };
        for &s in settings {
            writers.dirs.insert(0, NewDirs::create(&dir.join(s.name()))?);
            let run = AtomicFile::create(&dir.join(s.name()).join("run.trec"))?;
            let qrels = AtomicFile::create(&dir.join(s.name()).join("qrels.trec"))?;
            writers.files.insert(s, (run, qrels, 0));
        }
        Ok(writers)
    }

    /// Completes the files of settings that have rankings (a caption set has no monolingual
    /// ranking: its empty files are dropped) and describes them.
    fn commit(self, dir: &Path) -> Result<BTreeMap<String, TrecFiles>> {
        let Self { files, dirs } = self;
        let mut out = BTreeMap::new();
        for (s, (run, qrels, written)) in files {
            if written == 0 {
                drop((run, qrels));
                // The setting's directory was made for these files; leave no empty folder.
                let _ = std::fs::remove_dir(dir.join(s.name()));
                continue;
            }
            run.commit()?;
            qrels.commit()?;
            let qid_format = if s == Setting::Crosslingual { "QID@CORPUS_LANG" } else { "QID" };
            out.insert(
                s.name().to_owned(),
                TrecFiles {
                    run: format!("{}/run.trec", s.name()),
                    qrels: format!("{}/qrels.trec", s.name()),
                    qid_format: qid_format.into(),
                },
            );
        }
        dirs.into_iter().for_each(NewDirs::keep);
        Ok(out)
    }
}

/// Removes run files of settings this evaluation does not export, so that a results directory
/// never mixes files from two evaluations.
pub(crate) fn remove_stale_runs(dir: &Path, exported: &[Setting]) -> Result<()> {
    for s in Setting::ALL.iter().filter(|s| !exported.contains(s)) {
        for name in ["run.trec", "qrels.trec"] {
            let path = dir.join(s.name()).join(name);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(EvalError::io(&path, e)),
                _ => {}
            }
        }
    }
    Ok(())
}
