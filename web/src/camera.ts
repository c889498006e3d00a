// Reading barcodes (and the sign-in QR code) from the camera: the browser's own
// BarcodeDetector where it has one that knows the formats, else the barcode-detector ponyfill
// (ZXing-C++ in WebAssembly), loaded only then, with its .wasm from this server (never a CDN).

export type Format = "ean_13" | "ean_8" | "upc_a" | "upc_e" | "qr_code";
export const PRODUCT_FORMATS: Format[] = ["ean_13", "ean_8", "upc_a", "upc_e"];

/** Where the build put the decoder's WebAssembly (its name carries its hash: build.mjs). */
declare const ZXING_WASM: string;

interface Detector {
  detect(source: HTMLVideoElement): Promise<{ rawValue: string }[]>;
}

declare global {
  interface Window {
    BarcodeDetector?: {
      new (o: { formats: string[] }): Detector;
      getSupportedFormats(): Promise<string[]>;
    };
  }
}

async function detector(formats: Format[]): Promise<Detector> {
  const native = window.BarcodeDetector;
  if (native) {
    const supported = await native.getSupportedFormats().catch(() => [] as string[]);
    if (formats.every((f) => supported.includes(f))) return new native({ formats });
  }
  const { BarcodeDetector, prepareZXingModule } = await import("barcode-detector/ponyfill");
  prepareZXingModule({
    overrides: {
      locateFile: (path: string, prefix: string) => (path.endsWith(".wasm") ? ZXING_WASM : prefix + path),
    },
  });
  return new BarcodeDetector({ formats });
}

/** A running camera: call `stop()` to release it. */
export interface Running {
  stop(): void;
}

/** A code read again within this long of its last sighting is the same scan. */
const GONE_MS = 1_500;

/**
 * Shows the camera in `video` and calls `onCode` with each code that comes into view: a code
 * held in view (or two in the frame at once) is read once, and again only after it has been
 * out of view for a moment.
 */
export async function startCamera(video: HTMLVideoElement, formats: Format[], onCode: (code: string) => void): Promise<Running> {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error("This browser cannot use the camera here (it needs https, or localhost). Type the code instead.");
  }
  const det = await detector(formats);
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch (e) {
    const name = (e as DOMException).name;
    throw new Error(
      name === "NotAllowedError"
        ? "The camera is not allowed. Allow it in the browser's site settings, or type the code."
        : "No camera could be opened. Type the code instead.",
    );
  }
  video.srcObject = stream;
  video.setAttribute("playsinline", "");
  await video.play();
  let stopped = false;
  const seen = new Map<string, number>();
  const tick = async () => {
    if (stopped) return;
    try {
      if (video.readyState >= 2) {
        const now = Date.now();
        for (const { rawValue } of await det.detect(video)) {
          const last = seen.get(rawValue);
          seen.set(rawValue, now);
          if (last === undefined || now - last > GONE_MS) onCode(rawValue);
        }
      }
    } catch {
      /* a frame that could not be read: the next one may */
    }
    setTimeout(tick, 150);
  };
  void tick();
  return {
    stop() {
      stopped = true;
      stream.getTracks().forEach((t) => t.stop());
      video.srcObject = null;
    },
  };
}
