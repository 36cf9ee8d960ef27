//! The writes of live jobs: commit (`Accept`), update, attach, remove
//! (`Forget`). Each takes its version and queues its entry under the
//! index lock (so the log has one job's entries in call order), then
//! waits, if at all, outside it.

use std::sync::Arc;

use super::error::IoContext;
use super::journal::{EntryDocument, Placed, Record};
use super::layout::sha256_from_hex;
use super::live::{DocSlot, IndexedJob, Placing, placer};
use super::staging::StagedBody;
use super::{DocumentInfo, SpoolError, SpoolShared, StagedDocument, run_blocking};

impl SpoolShared {
    pub(super) async fn commit(
        self: Arc<Self>,
        id: u32,
        meta: Vec<u8>,
        document: Option<StagedDocument>,
    ) -> Result<Option<DocumentInfo>, SpoolError> {
        let info = document.as_ref().map(|doc| doc.info.clone());
        {
            let mut index = self.index.lock();
            if index.jobs.contains_key(&id) {
                return Err(SpoolError::IdInUse { id });
            }
            // Reserved, not written: compaction leaves it alone.
            index.insert(id, IndexedJob::new(DocSlot::Absent));
        }
        let (record_document, slot) = match self.place_document(id, document).await {
            Ok(prepared) => prepared,
            Err(e) => {
                self.index.lock().remove(id);
                return Err(e);
            }
        };
        let record = Record::Accept {
            id,
            version: 1,
            meta,
            document: record_document,
        };
        let placing = Placing {
            id,
            version: 1,
            document: Some(slot),
        };
        let then = placer(Arc::clone(&self.index), vec![placing]);
        if let Err(e) = self.journal.append_then(vec![record], Some(then)).await {
            self.abandon_new_job(id, slot).await;
            return Err(e);
        }
        Ok(info)
    }

    /// The document as the entry carries it: inline bytes, or the spilled
    /// file renamed to `docs/<id>.doc` (its data fdatasynced by staging;
    /// the appender syncs `docs/` before writing the entry naming it).
    async fn place_document(
        &self,
        id: u32,
        document: Option<StagedDocument>,
    ) -> Result<(EntryDocument, DocSlot), SpoolError> {
        let Some(document) = document else {
            return Ok((EntryDocument::None, DocSlot::Absent));
        };
        let len = document.info.len;
        match document.body {
            StagedBody::Inline(bytes) => Ok((
                EntryDocument::Inline(bytes),
                DocSlot::Inline { extent: None, len },
            )),
            StagedBody::Spilled(temp) => {
                let sha256 = sha256_from_hex(&document.info.sha256).unwrap_or([0; 32]);
                let target = self.layout.doc_file(id);
                run_blocking(move || {
                    std::fs::rename(temp.path(), &target)
                        .context("move the document to", &target)?;
                    temp.disarm();
                    Ok(())
                })
                .await?;
                Ok((
                    EntryDocument::File { len, sha256 },
                    DocSlot::File { len, sha256 },
                ))
            }
        }
    }

    /// A commit that failed after its entry was queued: the job must not
    /// appear at the next start (it was never acknowledged).
    async fn abandon_new_job(&self, id: u32, slot: DocSlot) {
        self.index.lock().remove(id);
        let forget = self.journal.append(vec![Record::Forget { id, version: 2 }]);
        if let Err(e) = forget.await {
            tracing::warn!(id, "a failed job may come back at the next start: {e}");
        }
        if let DocSlot::File { .. } = slot {
            self.remove_document_file(id).await;
        }
    }

    async fn remove_document_file(&self, id: u32) {
        let path = self.layout.doc_file(id);
        let _ = run_blocking(move || std::fs::remove_file(&path).context("remove", &path)).await;
    }

    /// Queues an `Update` now; the future resolves once it is durable.
    pub(super) fn queue_update(
        &self,
        id: u32,
        meta: Vec<u8>,
    ) -> Result<
        impl Future<Output = Result<Vec<Placed>, SpoolError>> + Send + 'static + use<>,
        SpoolError,
    > {
        let mut index = self.index.lock();
        let job = index
            .jobs
            .get_mut(&id)
            .filter(|job| !job.released)
            .ok_or(SpoolError::NoSuchJob { id })?;
        let version = job.next_version();
        let placing = Placing {
            id,
            version,
            document: None,
        };
        let then = placer(Arc::clone(&self.index), vec![placing]);
        let record = Record::Update { id, version, meta };
        Ok(self.journal.append_then(vec![record], Some(then)))
    }

    pub(super) async fn attach(
        self: Arc<Self>,
        id: u32,
        meta: Vec<u8>,
        document: StagedDocument,
    ) -> Result<DocumentInfo, SpoolError> {
        let begun = self.index.lock().change(id, |job| match job.document {
            DocSlot::Absent => {
                job.document = DocSlot::Attaching;
                Ok(())
            }
            _ => Err(SpoolError::DocumentExists { id }),
        });
        begun.ok_or(SpoolError::NoSuchJob { id })??;
        let info = document.info.clone();
        let (record_document, slot) = match self.place_document(id, Some(document)).await {
            Ok(prepared) => prepared,
            Err(e) => {
                self.abandon_attach(id);
                return Err(e);
            }
        };
        let written = {
            let mut index = self.index.lock();
            let version = index.jobs.get_mut(&id).map(IndexedJob::next_version);
            version.map(|version| {
                let placing = Placing {
                    id,
                    version,
                    document: Some(slot),
                };
                let then = placer(Arc::clone(&self.index), vec![placing]);
                let record = Record::Attach {
                    id,
                    version,
                    meta,
                    document: record_document,
                };
                self.journal.append_then(vec![record], Some(then))
            })
        };
        let result = match written {
            Some(written) => written.await.map(drop),
            None => Err(SpoolError::NoSuchJob { id }),
        };
        if let Err(e) = result {
            self.abandon_attach(id);
            if let DocSlot::File { .. } = slot {
                self.remove_document_file(id).await;
            }
            return Err(e);
        }
        Ok(info)
    }

    /// The job goes back to having no document (if it still exists).
    fn abandon_attach(&self, id: u32) {
        self.index.lock().change(id, |job| {
            if job.document == DocSlot::Attaching {
                job.document = DocSlot::Absent;
            }
        });
    }

    pub(super) async fn remove(self: Arc<Self>, id: u32) -> Result<(), SpoolError> {
        let (slot, forgotten) = {
            let mut index = self.index.lock();
            let mut job = index.remove(id).ok_or(SpoolError::NoSuchJob { id })?;
            let version = job.next_version();
            let forget = Record::Forget { id, version };
            (job.document, self.journal.append(vec![forget]))
        };
        forgotten.await?;
        if let DocSlot::File { .. } = slot {
            let path = self.layout.doc_file(id);
            run_blocking(move || match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(SpoolError::io("remove", &path, e))
                }
                _ => Ok(()),
            })
            .await?;
        }
        Ok(())
    }
}
