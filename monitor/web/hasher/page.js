/* The hashing page: picks files (and folders), hands each to the worker, lists what came
   back, and saves the hash list. Nothing is sent anywhere and nothing is stored on the
   device (no cookies, no localStorage): closing the page forgets everything. */
"use strict";
(function () {
  var config = JSON.parse(document.getElementById("config").textContent);
  var FORMAT = "ncii-monitor-hashlist";
  var rules = null; // the hashing rules' versions, as the worker reports them
  var items = []; // {id, name, size, file, state: "waiting"|"done"|"skipped", result, reason, url, li}
  var nextId = 1;
  var lang = /^es\b/i.test(location.hash.slice(1)) ? "es"
    : /^en\b/i.test(location.hash.slice(1)) ? "en"
    : /^es\b/i.test((navigator.languages && navigator.languages[0]) || navigator.language || "") ? "es" : "en";
  var strings = function () { return NciiStrings[lang]; };
  var $ = function (id) { return document.getElementById(id); };

  // ------------------------------------------------------------------ language

  function translate() {
    var s = strings();
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach(function (node) {
      var text = s[node.getAttribute("data-i18n")];
      if (typeof text !== "string") return;
      if (node.tagName === "TITLE") document.title = text;
      else if (text.indexOf("<") >= 0) node.innerHTML = text; // our own fixed strings only
      else node.textContent = text;
    });
    document.querySelectorAll("[data-lang]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-lang") === lang));
    });
    $("signed").textContent = config.signing ? s.signed : s.unsigned;
    items.forEach(render);
    summarise();
  }

  document.querySelectorAll("[data-lang]").forEach(function (button) {
    button.addEventListener("click", function () {
      lang = button.getAttribute("data-lang");
      translate();
    });
  });

  // ------------------------------------------------------------------ the worker

  var worker = new Worker(
    URL.createObjectURL(new Blob([$("worker-source").textContent], { type: "text/javascript" }))
  );
  var queue = [];
  var busy = null;

  worker.onmessage = function (event) {
    var message = event.data;
    var item = busy;
    busy = null;
    if (item && item.id === message.id && items.indexOf(item) >= 0) {
      if (message.ok) {
        var twin = items.filter(function (other) {
          return other !== item && other.state === "done" && other.result.md5 === message.md5;
        })[0];
        if (twin) skip(item, "duplicate", "");
        else {
          item.state = "done";
          item.result = message;
          rules = message.rules;
        }
      } else skip(item, message.kind, message.message);
      render(item);
      summarise();
    }
    pump();
  };

  function skip(item, kind, detail) {
    item.state = "skipped";
    item.reason = kind;
    item.detail = detail;
  }

  function pump() {
    if (busy || !queue.length) return;
    var item = queue.shift();
    if (items.indexOf(item) < 0) return pump();
    busy = item;
    item.file.arrayBuffer().then(
      function (buffer) {
        worker.postMessage({ id: item.id, buffer: buffer, maxPixels: config.maxPixels }, [buffer]);
      },
      function () {
        busy = null;
        skip(item, "corrupt", "cannot read the file");
        render(item);
        summarise();
        pump();
      }
    );
  }

  // ------------------------------------------------------------------ adding files

  function add(files) {
    files.forEach(function (file) {
      var item = { id: nextId++, name: file.name, size: file.size, file: file, state: "waiting" };
      items.push(item);
      if (file.size === 0) skip(item, "empty", "");
      else if (file.size > config.maxBytes) skip(item, "too_large", "");
      else queue.push(item);
      render(item);
    });
    summarise();
    pump();
  }

  function hidden(file) {
    return /(^|\/)\./.test(file.webkitRelativePath || file.name);
  }

  $("files").addEventListener("change", function (event) {
    add(Array.prototype.slice.call(event.target.files));
    event.target.value = "";
  });
  $("folder").addEventListener("change", function (event) {
    add(Array.prototype.slice.call(event.target.files).filter(function (f) { return !hidden(f); }));
    event.target.value = "";
  });

  var drop = $("drop");
  ["dragenter", "dragover"].forEach(function (type) {
    drop.addEventListener(type, function (event) {
      event.preventDefault();
      drop.classList.add("over");
    });
  });
  drop.addEventListener("dragleave", function () { drop.classList.remove("over"); });
  drop.addEventListener("drop", function (event) {
    event.preventDefault();
    drop.classList.remove("over");
    var entries = Array.prototype.map.call(event.dataTransfer.items || [], function (it) {
      return it.webkitGetAsEntry ? it.webkitGetAsEntry() : null;
    });
    if (!entries.length || entries.some(function (e) { return !e; })) {
      add(Array.prototype.slice.call(event.dataTransfer.files));
      return;
    }
    Promise.all(entries.map(walk)).then(function (lists) {
      add([].concat.apply([], lists));
    });
  });

  /* The files of a dropped entry, folders walked recursively (hidden files left out). */
  function walk(entry) {
    if (entry.name.charAt(0) === ".") return Promise.resolve([]);
    if (entry.isFile) {
      return new Promise(function (resolve) {
        entry.file(function (file) { resolve([file]); }, function () { resolve([]); });
      });
    }
    var reader = entry.createReader();
    var found = [];
    return new Promise(function (resolve) {
      (function more() {
        reader.readEntries(function (batch) {
          if (!batch.length) {
            Promise.all(found.map(walk)).then(function (lists) { resolve([].concat.apply([], lists)); });
            return;
          }
          found = found.concat(batch);
          more();
        }, function () { resolve([]); });
      })();
    });
  }

  // ------------------------------------------------------------------ the list

  function render(item) {
    var s = strings();
    if (!item.li) {
      item.li = document.createElement("li");
      item.li.setAttribute("data-state", item.state);
      var thumb = document.createElement("span");
      thumb.className = "thumb";
      if (/^image\/(jpeg|png|webp|gif|bmp)$/.test(item.file.type)) {
        // A blob: URL of her own file: shown on this screen only, blurred unless she asks.
        item.url = URL.createObjectURL(item.file);
        var img = document.createElement("img");
        img.alt = "";
        img.src = item.url;
        thumb.appendChild(img);
      }
      var name = document.createElement("span");
      name.className = "name";
      name.textContent = item.name;
      var state = document.createElement("span");
      state.className = "state";
      var remove = document.createElement("button");
      remove.type = "button";
      remove.addEventListener("click", function () { forget(item); });
      item.li.append(thumb, name, state, remove);
      $("items").appendChild(item.li);
    }
    item.li.setAttribute("data-state", item.state);
    var stateNode = item.li.querySelector(".state");
    var button = item.li.querySelector("button");
    button.textContent = s.remove;
    button.setAttribute("aria-label", s.removeLabel(item.name));
    if (item.state === "waiting") {
      stateNode.className = "state";
      stateNode.textContent = s.waiting;
    } else if (item.state === "done") {
      var plain = item.result.views.some(function (v) { return v.algorithm === "pdq" && v.view === "original"; });
      stateNode.className = "state " + (plain ? "ok" : "warn");
      stateNode.textContent = plain ? s.ready(count(item)) : s.lowQuality;
    } else {
      stateNode.className = "state bad";
      stateNode.textContent = s.reasons[item.reason] || s.reasons.corrupt;
      stateNode.title = item.detail || "";
    }
  }

  function count(item) {
    return item.result.views.length + 1; // the views and the file's MD5
  }

  function forget(item) {
    items = items.filter(function (other) { return other !== item; });
    if (item.url) URL.revokeObjectURL(item.url);
    if (item.li) item.li.remove();
    item.file = item.result = null;
    summarise();
  }

  function summarise() {
    var done = 0, waiting = 0, skipped = 0;
    items.forEach(function (item) {
      if (item.state === "done") done++;
      else if (item.state === "waiting") waiting++;
      else skipped++;
    });
    var s = strings();
    $("summary").textContent = items.length ? s.summary(done, waiting, skipped) : s.empty;
    $("save").disabled = !done || waiting > 0;
    document.body.setAttribute("data-waiting", String(waiting));
  }

  $("show-previews").addEventListener("change", function (event) {
    document.body.classList.toggle("previews", event.target.checked);
  });

  $("clear").addEventListener("click", function () {
    items.slice().forEach(forget);
    queue = [];
    $("summary").textContent = strings().cleared;
  });

  // ------------------------------------------------------------------ saving

  /* JSON with keys sorted at every level and no spaces: the bytes the seal covers, as
     Python's json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False). */
  function canonical(value) {
    if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
    if (value !== null && typeof value === "object") {
      return "{" + Object.keys(value).sort().map(function (key) {
        return JSON.stringify(key) + ":" + canonical(value[key]);
      }).join(",") + "}";
    }
    return JSON.stringify(value);
  }

  /* The entries of each photo ready, photo by photo ("group" is set per file). */
  function photos(withNames) {
    var out = [];
    items.forEach(function (item) {
      if (item.state !== "done") return;
      var entries = item.result.views.map(function (view) {
        var entry = { algorithm: view.algorithm, hash: view.value, view: view.view };
        if (view.quality !== null && view.quality !== undefined) entry.quality = view.quality;
        return entry;
      });
      entries.push({ algorithm: "md5", hash: item.result.md5, view: "original" });
      if (withNames) entries.forEach(function (entry) { entry.label = item.name; });
      out.push(entries);
    });
    return out;
  }

  /* Photos packed into files that each stay under the size an import takes. */
  function parts(all) {
    var limit = config.maxListBytes - 4096; // room for the header and the seal
    var out = [[]];
    var size = 0;
    all.forEach(function (entries) {
      var bytes = entries.reduce(function (n, e) { return n + JSON.stringify(e).length + 12; }, 0);
      if (size + bytes > limit && out[out.length - 1].length) {
        out.push([]);
        size = 0;
      }
      out[out.length - 1].push(entries);
      size += bytes;
    });
    return out.map(function (part) {
      var hashes = [];
      part.forEach(function (entries, group) {
        entries.forEach(function (entry) {
          entry.group = group;
          hashes.push(entry);
        });
      });
      return hashes;
    });
  }

  /* The file: top-level keys first, then one entry per line. */
  function serialise(document_) {
    var lines = ["{"];
    var keys = Object.keys(document_).filter(function (k) { return k !== "hashes"; });
    keys.forEach(function (key) { lines.push(JSON.stringify(key) + ": " + JSON.stringify(document_[key]) + ","); });
    lines.push('"hashes": [');
    document_.hashes.forEach(function (entry, index) {
      lines.push(JSON.stringify(entry) + (index + 1 < document_.hashes.length ? "," : ""));
    });
    lines.push("]", "}");
    return lines.join("\n") + "\n";
  }

  function seal(document_) {
    if (!config.signing) return Promise.resolve(document_);
    var message = new TextEncoder().encode(canonical(document_));
    var key = NciiSha256.fromHex(config.signing.key);
    return NciiSha256.hmacHex(key, message).then(function (value) {
      document_.signature = { algorithm: "hmac-sha256", key_id: config.signing.keyId, value: value };
      return document_;
    });
  }

  function download(text, name) {
    var link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 60000);
  }

  $("save").addEventListener("click", function () {
    var stamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    var files = parts(photos($("with-names").checked));
    var list = $("parts");
    list.textContent = "";
    Promise.all(files.map(function (hashes) {
      return seal({
        format: FORMAT, version: 2, origin: config.origin, exported_at: stamp,
        hashing: rules, hashes: hashes,
      });
    })).then(function (sealed) {
      var base = "hash-list-" + stamp.slice(0, 10);
      if (sealed.length === 1) {
        download(serialise(sealed[0]), base + ".json");
        $("summary").textContent = strings().saved(sealed[0].hashes.length, base + ".json");
        return;
      }
      // Too many photos for one file: one button per file (browsers hold back a burst
      // of downloads started by one click).
      $("summary").textContent = strings().severalFiles(sealed.length);
      sealed.forEach(function (document_, index) {
        var name = base + "-" + (index + 1) + "-of-" + sealed.length + ".json";
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = name;
        button.addEventListener("click", function () { download(serialise(document_), name); });
        list.appendChild(button);
      });
    });
  });

  translate();
  window.NciiPage = { canonical: canonical, items: function () { return items; } };
})();
