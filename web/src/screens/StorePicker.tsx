// Which store the screens show, for an admin (who reaches every store) or a sign-in without one.
import { useState } from "preact/hooks";

export function StorePicker({ admin, onPick }: { admin: boolean; onPick: (s: string) => void }) {
  const [id, setId] = useState("");
  return (
    <main>
      <h1>Which store?</h1>
      {admin ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            onPick(id.trim());
          }}
        >
          <label class="field">
            <span>Store id</span>
            <input name="store" required value={id} onInput={(e) => setId(e.currentTarget.value)} />
          </label>
          <button class="primary">Open</button>
        </form>
      ) : (
        <p>This sign-in has no store. Ask the store's owner to add you.</p>
      )}
    </main>
  );
}
