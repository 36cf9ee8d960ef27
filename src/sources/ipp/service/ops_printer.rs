//! Printer operations: Get-Printer-Attributes (RFC 8011 4.2.5),
//! Pause-Printer and Resume-Printer (4.3.7, 4.3.8), Identify-Printer
//! (PWG 5100.13 4.1).

use super::capabilities as caps;
use super::printer_attrs;
use super::requested::Requested;
use super::{Ctx, IppReply, IppService};

impl IppService {
    /// `document-format` may narrow the answer (PWG 5100.13); every queue
    /// takes the same attributes for every format, so it is ignored.
    pub(super) fn get_printer_attributes(&self, ctx: &Ctx<'_>) -> Result<IppReply, IppReply> {
        let info = self.target_printer(ctx)?;
        let wanted = Requested::from_request(ctx.msg, Requested::all());
        let statics = self.printer_cache.get(&info, ctx.host);
        let mut dynamic = printer_attrs::dynamic_attributes(&info, ctx.now, &wanted);
        dynamic.extend(printer_attrs::limit_attributes(
            &self.spooler.job_limits(),
            &wanted,
        ));
        let mut tail = Vec::with_capacity(if wanted.is_all() { statics.len() } else { 256 });
        statics.append(&wanted, &mut tail);
        Ok(IppReply::ok().with_printer_group(dynamic, tail))
    }

    pub(super) fn pause_printer(&self, ctx: &Ctx<'_>) -> Result<IppReply, IppReply> {
        let info = self.target_printer(ctx)?;
        self.spooler.pause(&info.name, &ctx.requester)?;
        tracing::info!(printer = %info.name, by = %ctx.requester.user, "printer paused");
        Ok(IppReply::ok())
    }

    pub(super) fn resume_printer(&self, ctx: &Ctx<'_>) -> Result<IppReply, IppReply> {
        let info = self.target_printer(ctx)?;
        self.spooler.resume(&info.name, &ctx.requester)?;
        tracing::info!(printer = %info.name, by = %ctx.requester.user, "printer resumed");
        Ok(IppReply::ok())
    }

    /// Actions other than those supported are ignored and reported.
    pub(super) fn identify_printer(&self, ctx: &Ctx<'_>) -> Result<IppReply, IppReply> {
        let info = self.target_printer(ctx)?;
        let unsupported: Vec<_> = ctx
            .msg
            .operation_attr("identify-actions")
            .filter(|a| {
                a.values.iter().any(|v| {
                    !v.as_str()
                        .is_some_and(|s| caps::IDENTIFY_ACTIONS.contains(&s))
                })
            })
            .cloned()
            .into_iter()
            .collect();
        self.spooler.identify(&info.name)?;
        Ok(IppReply::ok().with_ignored(unsupported))
    }
}
