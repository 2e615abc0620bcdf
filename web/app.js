// The upload page: one file at a time with a progress bar (the upload's
// progress events, then the job's own progress from GET /jobs/<id>/), and a
// live table of recent jobs (GET /jobs/?limit=N) with their result links and
// cancel buttons. A file dropped onto the page is uploaded as if chosen. A
// finished job's summary and charts are view.js's.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const form = $('upload-form');
  const fileInput = $('file');
  const skipInput = $('skip-bad-rows');
  const submitButton = $('submit');
  const current = $('current');
  const currentName = $('current-name');
  const currentCancel = $('current-cancel');
  const progress = $('progress');
  const statusText = $('current-status');
  const jobsBody = document.querySelector('#jobs tbody');
  const jobsError = $('jobs-error');
  const noJobs = $('no-jobs');
  const jobsTable = $('jobs');
  const dropZone = $('drop');

  const ended = (state) => state === 'finished' || state === 'failed' || state === 'canceled';
  const seconds = (from, to) => (Date.parse(to) - Date.parse(from)) / 1000;
  const percent = (done, total) => (total > 0 ? Math.floor((100 * done) / total) : 0);

  // The upload in progress or the job it became: at most one at a time.
  let upload = null; // { xhr, name, jobId }

  function setProgress(stage, value) {
    progress.dataset.stage = stage;
    if (value === null) progress.removeAttribute('value'); // indeterminate
    else progress.value = value;
  }

  function showCurrent(name) {
    current.hidden = false;
    currentName.textContent = name;
    currentCancel.hidden = false;
    currentCancel.disabled = false;
    statusText.replaceChildren();
    statusText.classList.remove('error');
  }

  function say(...parts) {
    statusText.replaceChildren(...parts);
  }

  function fail(message) {
    statusText.classList.add('error');
    say(message);
    currentCancel.hidden = true;
    submitButton.disabled = false;
    upload = null;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const file = fileInput.files[0];
    if (!file || upload) return;
    const body = new FormData();
    body.append('file', file, file.name);
    const xhr = new XMLHttpRequest();
    upload = { xhr, name: file.name, jobId: null };
    const mine = upload;
    showCurrent(file.name);
    submitButton.disabled = true;
    setProgress('upload', 0);
    say(`Uploading ${pc.bytes(file.size)}…`);

    xhr.upload.addEventListener('progress', (e) => {
      if (!e.lengthComputable || upload !== mine) return;
      setProgress('upload', percent(e.loaded, e.total));
      say(`Uploading: ${percent(e.loaded, e.total)}%, ${pc.bytes(e.loaded)} of ${pc.bytes(e.total)}`);
    });
    xhr.addEventListener('load', () => {
      if (upload !== mine) return;
      let answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status !== 202 || !answer || !answer.jobId) {
        setProgress('failed', 0);
        return fail(`The upload was refused (${xhr.status}): ${(answer && answer.message) || xhr.statusText}`);
      }
      mine.jobId = answer.jobId;
      setProgress('job', null);
      say('Uploaded; the job is queued.');
      jobs.now();
      followJob(mine);
    });
    xhr.addEventListener('error', () => {
      if (upload !== mine) return;
      setProgress('failed', 0);
      fail('The upload failed: the connection to the server was lost.');
    });
    xhr.addEventListener('abort', () => {
      if (upload !== mine) return;
      setProgress('canceled', 0);
      fail('Upload canceled.');
    });
    const query = skipInput.checked ? '?on_bad_rows=skip' : '';
    xhr.open('POST', `/jobs/count/${query}`);
    for (const [name, value] of Object.entries(pc.auth())) xhr.setRequestHeader(name, value);
    xhr.send(body);
  });

  currentCancel.addEventListener('click', async () => {
    if (!upload) return;
    const what = upload.jobId ? 'the job of' : 'uploading';
    if (!window.confirm(`Stop ${what} ${upload.name}?`) || !upload) return;
    currentCancel.disabled = true;
    if (!upload.jobId) return upload.xhr.abort();
    try {
      await pc.json(`/jobs/${upload.jobId}/`, { method: 'DELETE' });
    } catch (e) {
      say(`Could not cancel: ${e.message}`);
      currentCancel.disabled = false;
    }
  });

  // Polls the job until it ends; the bar shows the bytes read.
  async function followJob(mine) {
    while (upload === mine) {
      let job;
      try {
        job = await pc.json(`/jobs/${mine.jobId}/`);
      } catch (e) {
        say(`Lost track of the job: ${e.message}; retrying…`);
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (upload !== mine) return;
      showJob(job);
      if (ended(job.state)) {
        upload = null;
        submitButton.disabled = false;
        currentCancel.hidden = true;
        jobs.now();
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  function showJob(job) {
    switch (job.state) {
      case 'queued':
        setProgress('job', null);
        return say('Queued: waiting for a free slot.');
      case 'started': {
        const { fraction, phase, detail } = pc.jobProgress(job);
        setProgress('job', Math.floor(100 * fraction));
        return say(`Counting (${phase})${detail ? `: ${detail}` : ''}`);
      }
      case 'finished': {
        setProgress('done', 100);
        const link = pc.resultLink(`/jobs/${job.jobId}/result/`, `${job.jobId}.csv`, 'Download the result', { class: 'download' });
        const took = pc.duration(seconds(job.uploadStartedAt || job.startedAt, job.finishedAt));
        const skipped = job.badRows > 0 ? `, ${pc.count(job.badRows)} bad rows skipped` : '';
        jobView.open(job.jobId); // its summary, charts and song search
        return say(`Finished in ${took}: ${pc.count(job.rows)} rows, ${pc.count(job.groups)} song-dates${skipped}. `, link);
      }
      case 'failed':
        setProgress('failed', 0);
        statusText.classList.add('error');
        return say(`Failed: ${job.error}`);
      case 'canceled':
        setProgress('canceled', 0);
        return say('Canceled.');
    }
  }

  // -- the table of recent jobs ----------------------------------------------

  const rows = new Map(); // jobId -> { tr, cells, state }

  // From the start of its upload (the user waits for that too) to its end.
  function timeTaken(job) {
    const from = job.uploadStartedAt || job.startedAt;
    if (job.finishedAt && from) return pc.duration(seconds(from, job.finishedAt));
    if (from) return pc.duration((Date.now() - Date.parse(from)) / 1000);
    return '';
  }

  function progressCell(job) {
    if (job.state === 'started') {
      const { fraction, phase, detail } = pc.jobProgress(job);
      const bar = pc.el('progress', { max: 100, 'aria-label': `job ${job.jobId}` });
      bar.value = Math.floor(100 * fraction);
      return [bar, pc.el('span', { class: 'phase' }, ` ${phase}${detail ? ` ${detail}` : ''}`)];
    }
    if (job.state === 'finished') return [`${pc.count(job.rows)} rows → ${pc.count(job.groups)} song-dates`];
    return [];
  }

  // A finished job's view: on this page (a new history entry), or where a
  // middle click or ctrl-click sends a link.
  function viewLink(job) {
    const a = pc.el('a', { href: `/jobs/${job.jobId}/view`, class: 'view-open' }, 'View');
    a.addEventListener('click', (event) => {
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      jobView.open(job.jobId, { push: true, scroll: true });
    });
    return a;
  }

  function resultCell(job) {
    if (job.state === 'finished') {
      const link = pc.resultLink(`/jobs/${job.jobId}/result/`, `${job.jobId}.csv`, 'Download CSV');
      const skipped = job.badRows > 0 ? pc.el('span', { class: 'hint' }, ` (${pc.count(job.badRows)} bad rows skipped)`) : null;
      return [viewLink(job), ' ', link, skipped].filter((c) => c !== null);
    }
    if (job.state === 'failed') return [pc.el('span', { class: 'error' }, job.error || 'failed')];
    return [];
  }

  function actionCell(job) {
    const active = !ended(job.state);
    const button = pc.el('button', { type: 'button', class: active ? 'cancel' : 'secondary remove' },
                         active ? 'Cancel' : 'Remove');
    button.title = active ? 'Stop this job' : 'Delete this job and its result';
    button.addEventListener('click', async () => {
      const name = job.fileName || job.jobId;
      const question = active ? `Cancel the job of ${name}?` : `Remove ${name} and its result?`;
      if (!window.confirm(question)) return;
      button.disabled = true;
      try {
        await pc.json(`/jobs/${job.jobId}/`, { method: 'DELETE' });
      } catch (e) {
        jobsError.hidden = false;
        jobsError.textContent = `Could not ${active ? 'cancel' : 'remove'} the job: ${e.message}`;
      }
      jobs.now();
    });
    return [button];
  }

  function render(list) {
    const seen = new Set();
    let before = null;
    for (const job of list) {
      seen.add(job.jobId);
      let row = rows.get(job.jobId);
      if (!row) {
        const cells = Array.from({ length: 7 }, () => pc.el('td'));
        cells[2].className = cells[4].className = 'num';
        cells[0].className = cells[5].className = 'wrap';
        cells[0].append(pc.name(job.fileName || job.jobId));
        cells[0].title = job.jobId;
        row = { tr: pc.label(jobsTable, pc.el('tr', { 'data-job': job.jobId }, ...cells)), cells, state: null };
        rows.set(job.jobId, row);
      }
      const c = row.cells;
      c[1].replaceChildren(pc.el('span', { class: `state ${job.state}` }, job.state));
      c[2].textContent = pc.bytes(job.bytesTotal);
      c[3].replaceChildren(...progressCell(job));
      c[4].textContent = timeTaken(job);
      if (row.state !== job.state) {
        c[5].replaceChildren(...resultCell(job));
        c[6].replaceChildren(...actionCell(job));
        row.state = job.state;
        row.tr.dataset.state = job.state;
      }
      // Newest first, as the server lists them.
      if (before ? before.nextSibling !== row.tr : jobsBody.firstChild !== row.tr)
        jobsBody.insertBefore(row.tr, before ? before.nextSibling : jobsBody.firstChild);
      before = row.tr;
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) { row.tr.remove(); rows.delete(id); }
    }
    noJobs.hidden = list.length > 0;
  }

  const jobs = pc.every(1000, async () => {
    try {
      const answer = await pc.json('/jobs/?limit=20');
      jobsError.hidden = true;
      render(answer.jobs);
      return answer.jobs.some((j) => !ended(j.state)) ? 300 : 1000;
    } catch (e) {
      jobsError.hidden = false;
      jobsError.textContent = `Cannot list the jobs: ${e.message}`;
      return 2000;
    }
  });

  // -- a file dropped anywhere on the page -----------------------------------

  const carriesFiles = (event) => Array.from(event.dataTransfer?.types || []).includes('Files');
  let dragDepth = 0; // dragenter and dragleave come for every element crossed

  document.addEventListener('dragenter', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    dragDepth++;
    dropZone.hidden = false;
  });
  document.addEventListener('dragover', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault(); // or the browser opens the file itself
    event.dataTransfer.dropEffect = upload ? 'none' : 'copy';
  });
  document.addEventListener('dragleave', () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) dropZone.hidden = true;
  });
  document.addEventListener('drop', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    dropZone.hidden = true;
    const files = event.dataTransfer.files;
    if (files.length === 0) return;
    if (upload) {
      window.alert(`${upload.name} is still being counted: one file at a time.`);
      return;
    }
    const one = new DataTransfer(); // the first file only: one job per file
    one.items.add(files[0]);
    fileInput.files = one.files;
    form.requestSubmit();
  });
})();
