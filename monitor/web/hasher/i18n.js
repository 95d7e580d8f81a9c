/* The hashing page's words, in English and Spanish. Keys with a function take numbers. */
"use strict";
var NciiStrings = {
  en: {
    title: "Make a private list of fingerprints of your photos",
    intro1: "This page turns your photos into fingerprints: short codes that let the team helping you recognise a copy of a photo on the web. A fingerprint cannot be turned back into the photo.",
    intro2: "<strong>Your photos never leave this computer.</strong> This page works without the internet: you can disconnect now if you like. Nothing is uploaded and nothing is saved, except the file of fingerprints you choose to save.",
    intro3: "Take your time. You can stop whenever you want, and you do not need to look at the photos: previews stay blurred unless you choose to see them.",
    pickTitle: "1. Choose your photos",
    pickFiles: "Choose photos",
    pickFolder: "Choose a folder",
    drop: "…or drag photos or folders here.",
    formats: "JPEG, PNG, WebP, GIF and BMP photos. iPhone HEIC photos: open them and save them as JPEG first.",
    listTitle: "2. Check the list",
    showPreviews: "Show the previews (only on this screen)",
    saveTitle: "3. Save the fingerprints and send them",
    withNames: "Include the file names (they can help the team tell the photos apart, but a name can say something about you)",
    save: "Save the file of fingerprints",
    clear: "Remove everything from this page",
    sendHint: "Send the saved file to the team helping you, for example by email. It holds only fingerprints: no photo, no preview and nothing about this computer.",
    footer: "Made by ncii-monitor. The fingerprints are PDQ, pHash and dHash; they are computed exactly as the monitoring system computes them for images it finds on the web.",
    signed: "This page was made for your case: the file it saves is sealed, so the team can tell it arrived unchanged.",
    unsigned: "This is the general page: the file it saves is not sealed. Tell the team it comes from you.",
    empty: "No photos chosen yet.",
    summary: function (done, waiting, skipped) {
      var parts = [done + (done === 1 ? " photo ready" : " photos ready")];
      if (waiting) parts.push(waiting + " still being read");
      if (skipped) parts.push(skipped + (skipped === 1 ? " could not be used" : " could not be used"));
      return parts.join(", ") + ".";
    },
    waiting: "Reading…",
    ready: function (n) { return "Ready: " + n + " fingerprints"; },
    lowQuality: "Ready, but this photo is very plain or very small: it may be hard to recognise.",
    remove: "Remove",
    removeLabel: function (name) { return "Remove " + name + " from the list"; },
    reasons: {
      not_image: "This file is not a photo this page can read.",
      corrupt: "This photo seems damaged or incomplete.",
      too_many_pixels: "This photo is too large to read here.",
      too_large: "This file is too large to read here.",
      empty: "This file is empty.",
      unsupported: "This photo is stored in a way this page cannot read exactly. Save a copy of it as JPEG or PNG (your photo app can), and choose the copy.",
      heic: "This is an iPhone HEIC photo: open it and save it as JPEG, then choose the JPEG.",
      duplicate: "This photo is already in the list.",
    },
    saved: function (n, files) { return "Saved " + files + " (" + n + " fingerprints)."; },
    cleared: "Everything was removed from this page.",
    severalFiles: function (n) { return "That is a lot of photos for one file: save each of these " + n + " files and send them all."; },
  },
  es: {
    title: "Crea una lista privada de huellas de tus fotos",
    intro1: "Esta página convierte tus fotos en huellas: códigos cortos que permiten al equipo que te ayuda reconocer una copia de una foto en internet. Una huella no se puede convertir de nuevo en la foto.",
    intro2: "<strong>Tus fotos nunca salen de este ordenador.</strong> Esta página funciona sin internet: si quieres, puedes desconectarte ahora. No se sube nada y no se guarda nada, salvo el archivo de huellas que tú decidas guardar.",
    intro3: "Tómate tu tiempo. Puedes parar cuando quieras y no necesitas mirar las fotos: las vistas previas siguen borrosas salvo que decidas verlas.",
    pickTitle: "1. Elige tus fotos",
    pickFiles: "Elegir fotos",
    pickFolder: "Elegir una carpeta",
    drop: "…o arrastra aquí fotos o carpetas.",
    formats: "Fotos JPEG, PNG, WebP, GIF y BMP. Fotos HEIC de iPhone: ábrelas y guárdalas antes como JPEG.",
    listTitle: "2. Revisa la lista",
    showPreviews: "Mostrar las vistas previas (solo en esta pantalla)",
    saveTitle: "3. Guarda las huellas y envíalas",
    withNames: "Incluir los nombres de los archivos (ayudan al equipo a distinguir las fotos, pero un nombre puede decir algo sobre ti)",
    save: "Guardar el archivo de huellas",
    clear: "Quitar todo de esta página",
    sendHint: "Envía el archivo guardado al equipo que te ayuda, por ejemplo por correo electrónico. Solo contiene huellas: ninguna foto, ninguna vista previa y nada sobre este ordenador.",
    footer: "Hecho por ncii-monitor. Las huellas son PDQ, pHash y dHash; se calculan exactamente como las calcula el sistema de vigilancia para las imágenes que encuentra en internet.",
    signed: "Esta página se hizo para tu caso: el archivo que guarda va sellado, así el equipo puede comprobar que llegó sin cambios.",
    unsigned: "Esta es la página general: el archivo que guarda no va sellado. Dile al equipo que viene de ti.",
    empty: "Todavía no has elegido fotos.",
    summary: function (done, waiting, skipped) {
      var parts = [done + (done === 1 ? " foto lista" : " fotos listas")];
      if (waiting) parts.push(waiting + " todavía en lectura");
      if (skipped) parts.push(skipped + (skipped === 1 ? " no se pudo usar" : " no se pudieron usar"));
      return parts.join(", ") + ".";
    },
    waiting: "Leyendo…",
    ready: function (n) { return "Lista: " + n + " huellas"; },
    lowQuality: "Lista, pero esta foto es muy lisa o muy pequeña: puede ser difícil de reconocer.",
    remove: "Quitar",
    removeLabel: function (name) { return "Quitar " + name + " de la lista"; },
    reasons: {
      not_image: "Este archivo no es una foto que esta página pueda leer.",
      corrupt: "Esta foto parece dañada o incompleta.",
      too_many_pixels: "Esta foto es demasiado grande para leerla aquí.",
      too_large: "Este archivo es demasiado grande para leerlo aquí.",
      empty: "Este archivo está vacío.",
      unsupported: "Esta foto está guardada de una forma que esta página no puede leer con exactitud. Guarda una copia como JPEG o PNG (tu aplicación de fotos puede hacerlo) y elige la copia.",
      heic: "Es una foto HEIC de iPhone: ábrela y guárdala como JPEG, y luego elige el JPEG.",
      duplicate: "Esta foto ya está en la lista.",
    },
    saved: function (n, files) { return "Guardado " + files + " (" + n + " huellas)."; },
    cleared: "Se quitó todo de esta página.",
    severalFiles: function (n) { return "Son muchas fotos para un solo archivo: guarda cada uno de estos " + n + " archivos y envíalos todos."; },
  },
};
if (typeof module !== "undefined") module.exports = NciiStrings;
