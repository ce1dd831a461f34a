# pont's portal, English. One message per user-visible string; fr.ftl has the same ids.

## Layout
skip-to-content = Skip to content
nav-label = Main
nav-meetings = Meetings
nav-calendar = Calendar
nav-recordings = Recorded sessions
nav-public = Public recordings
nav-accounts = Accounts
lang-label = Language
sign-in = Sign in
sign-out = Sign out
footer = pont — video and audio meetings for your institution, by web, phone and room systems.
back-home = Back to the home page

## Home
home-title = Home
home-welcome = Meet by web, phone or room system
home-lead = Join a meeting with its room number, or sign in to plan and run your own.
home-hello = Hello, { $name }
home-lead-signed-in = Start a meeting now, or find the ones you planned.
join-title = Join a meeting
join-help = The room number is in your invitation. No account needed.
room-number = Room number
room-number-n = room { $room }
join = Join
organizers-title = Organizers
organizers-help = Sign in with your institution's account to start meetings, plan them and find your recordings. If you have no account yet, it is created at once.
instant-title = Start an instant meeting
instant-help = A new room, ready now: share its link or its number.
instant-subject = Subject (optional)
instant-placeholder = Meeting now
instant-start = Start the meeting
instant-default-subject = Meeting of { $name }
instant-too-long = The subject is too long: at most { $count } characters.
next-title = Your next meetings
next-none = No meeting planned.
next-all = All your meetings
more-title = Your space
more-plan = a date, a series, invitations with the link and the phone dial-in
more-calendar = your meetings by day, week and month, and a feed for your calendar app
more-recordings = your recordings, to validate, publish or download
more-public = the recordings published by your institution
when-instant = instant meeting
when-daily = { $when }, every day
when-weekly = { $when }, every week
when-monthly = { $when }, every month

## Forms
form-unreadable = The form could not be read. Please fill it in again.
form-too-large = The form is too large. Please shorten what you typed.

## Sign-in
signin-title = Sign in
signin-help = Organizers sign in with the account of their institution (single sign-on).
signin-sso = Sign in with my institution
signin-first-time = First time here? Your account is created when you first sign in.
signin-no-sso = Single sign-on is not configured on this server.
signin-token = Administrators can also give you a personal sign-in link (pont token create).
signin-bad-token-title = This sign-in link does not work
signin-bad-token = The link is wrong, or it was revoked. Ask for a new one.
signin-failed-title = You are not signed in
signin-down = The sign-in service of your institution is not answering. The rest of the site works: try signing in again in a few minutes.
signin-bad-state = This sign-in answer does not match a sign-in started in this browser, or it was already used. Please start again.
signin-refused = Your institution's sign-in service refused the sign-in.
signin-bad-token-idp = The sign-in answer could not be verified, so it was refused.
signin-domain = Your institution's account is valid, but its e-mail domain is not allowed to sign in here.
signin-again = Sign in again

## Meetings
meetings-title = Meetings
meetings-yours = Your meetings
meetings-none = You have no meeting yet.
col-subject = Subject
col-when = When
col-room = Room
col-dial-in = Room systems
pin-set = PIN
col-name = Name
col-email = E-mail
col-role = Role
col-created = Created
col-last-seen = Last seen
never = never

## Admin
accounts-title = Accounts
accounts-count = { $count ->
    [one] One account.
   *[other] { $count } accounts.
}

## Recordings
recordings-lead = The meetings you recorded. They stay private until you publish them.
recordings-none = You have no recording yet. Start one from a meeting's page or with the API.
recording-part = part { $count }
recording-interrupted = interrupted
col-title = Title
col-recorded = Recorded
col-duration = Duration
col-status = Status
col-visibility = Visibility
col-download = Download
status-recording = recording
status-processing = processing
status-pending_validation = to validate
visibility-private = private
visibility-organizers = organizers
visibility-public = public
public-lead = Recordings your institution chose to publish: anyone may watch them, no account needed.
public-none = No recording has been published yet.

col-delete-at = Deleted on
edit-title = Title, window and publication
field-description = Description
visibility-private-help = only you list it; its watch link works for whoever has it
visibility-organizers-help = the organizers of the institution list it
visibility-public-help = in the public recordings, anyone may watch it
field-window = Viewing window
field-window-help = What the watch link shows (hours:minutes:seconds); empty: all of it. The download link always gives the whole original file.
field-window-start = From
field-window-end = to
field-validated = Validated: give it a watch link and a download link (taking the validation back kills both)
field-owner = Give it to another account
field-owner-help = The e-mail or the name of an account that has signed in; empty: it stays yours.
save = Save
saved = Saved.
links-title = Links
links-watch = Watch page
links-download = Download the original file
links-none = Validate the recording to get its watch and download links.
copy-download = Copy the download link
copied = Copied.
delete-never = It is kept until you delete it.
delete-on = It will be deleted on { $when }: download it before if you need it.
error-trim = The viewing window must start before it ends, within the recording ({ $when }), written as hours:minutes:seconds.
error-owner = No account has this e-mail or name: the new owner must have signed in once.
error-title = The title must be 1 to 200 characters.
error-description = The description is too long.
error-validate-incomplete = The recording is not finished yet: it can be validated once it is.
watch-not-found-title = This recording is not available
watch-not-found = The link is wrong, or the recording is no longer published.
status-validated = validated

## Errors
error-forbidden-title = Not allowed
error-csrf = This form was not sent from this site's page, so nothing was changed. Reload the page and try again.
error-admins-only = This page is for administrators.
error-internal-title = Something went wrong
error-internal = The server could not do this. Nothing was lost; try again in a moment.

## The meeting page (its script's strings: the meeting- prefix is dropped)
meeting-room_number = Room number
meeting-join = Join
meeting-your_name = Your name
meeting-room = Room
meeting-mute_mic = Mute microphone
meeting-unmute_mic = Unmute microphone
meeting-stop_camera = Stop camera
meeting-start_camera = Start camera
meeting-leave = Leave
meeting-participants = Participants
meeting-you = you
meeting-speaking = speaking
meeting-muted = muted
meeting-connecting = Connecting…
meeting-connected = Connected
meeting-reconnecting = Connection lost: reconnecting…
meeting-left = You left the meeting.
meeting-rejoin = Join again
meeting-denied = Camera and microphone access was denied. Allow it in the browser's site settings, then reload the page.
meeting-no_device = No camera or microphone was found: joining without them.
meeting-unknown_room = This room does not exist. Check the room number.
meeting-room_full = This room is full. Try again later.
meeting-room_locked = The organizer has locked this room. Ask them to unlock it.
meeting-error = Error
meeting-insecure = Camera and microphone need HTTPS (or http://localhost).
meeting-recording_storage_full = Recording stopped: the recording storage is full. What was recorded is kept.
meeting-recording_storage_error = Recording stopped: the recording could not be written. What was recorded is kept.
meeting-recording = Recording
meeting-language = Language
meeting-recording_controls = Recording controls
meeting-rec_start = Record
meeting-rec_pause = Pause recording
meeting-rec_resume = Resume recording
meeting-rec_stop = Stop recording

## Invitation mails
mail-invite-subject = Invitation: { $subject }
mail-update-subject = Updated invitation: { $subject }
mail-cancel-subject = Cancelled: { $subject }
mail-invite-intro = { $organizer } invites you to a meeting.
mail-update-intro = { $organizer } has changed this meeting.
mail-cancel-intro = { $organizer } has cancelled this meeting.
mail-when = When
mail-repeats = Repeats
mail-join = Join from a browser
mail-phone = Join by phone
mail-phone-steps = call { $number }, enter the room number { $room } followed by #
mail-phone-pin = then the PIN { $pin } followed by #
mail-sip = Room systems
mail-not-cut = The room stays open if the meeting runs over.
repeat-daily = Every day until { $until }
repeat-weekly = Every week on { $days } until { $until }
repeat-monthly = Every month until { $until }
day-mon = Monday
day-tue = Tuesday
day-wed = Wednesday
day-thu = Thursday
day-fri = Friday
day-sat = Saturday
day-sun = Sunday

## Planning a meeting
plan-title = Plan a meeting
plan-edit-title = Change the meeting
plan-lead = Fill in the meeting; the invitees receive the link, the phone dial-in and a calendar invitation at once.
plan-instant = Instant meeting
mail-not-configured = Mail is not configured on this server: invitations are written to its outbox folder, not sent. Share the meeting's link yourself.
plan-warnings-title = Some people are already busy
plan-warnings-help = These are warnings only: you can save the meeting anyway.
plan-ignore-save = Ignore and save
plan-cancel-changes = Cancel changes
plan-warning-busy = { $who } is already busy in the meeting “{ $subject }”, organized by { $organizer }, from { $from } to { $to }.
plan-subject = Subject
plan-date = Date
plan-time = Start time
plan-duration = Approximate duration
plan-duration-minutes = Duration (minutes)
plan-end = Ends at
plan-duration-help = The duration is indicative: the room is never cut off when the meeting runs over.
plan-timezone = Time zone
plan-organizer = Organizer
plan-entity = Entity
plan-invitees = Invitees
plan-invitees-help = E-mail addresses, one per line or separated by commas.
plan-invite-me = Send the invitation to me too ({ $email })
plan-category = Category
category-video = Video conference
category-audio = Audio conference
plan-repeat = Repetition
repeat-none = Once
repeat-every-day = Every day
repeat-every-week = Every week
repeat-every-month = Every month
plan-weekdays = On
plan-until = Range of repetition: until
plan-until-help = Left empty, the series repeats for a year. Every week: tick the days; none ticked means the day of the first meeting.
plan-options = Options
option-recording = Record the meeting
option-streaming = Stream it live
option-waiting-room = Waiting room
option-phone-dial-in = Show the phone dial-in in the invitation
plan-streaming-url = Streaming address (RTMP, with its key)
plan-pin = PIN
plan-pin-help = Optional, 1 to 12 digits: phone callers key it after the room number.
plan-save = Save and send the invitations
save-series = Save series
plan-cancel = Cancel
plan-error-invalid_subject = Give the meeting a subject of at most 200 characters, on one line.
plan-error-invalid_timezone = This is not a time zone we know. Pick one from the list, such as Europe/Paris.
plan-error-invalid_date = Give a date such as 2026-12-14.
plan-error-invalid_time = Give a time such as 10:30.
plan-error-nonexistent_time = This time does not exist on that day: the clocks skip that hour. Pick another time.
plan-error-ambiguous_time = This time happens twice on that day, as the clocks go back. Pick another time.
plan-error-invalid_duration = The duration is from 1 minute to 24 hours.
plan-error-invalid_pin = A PIN is 1 to 12 digits.
plan-error-invalid_recurrence = This repetition is not one we offer.
plan-error-invalid_range = The end of the repetition is before the first meeting.
plan-error-too_many_occurrences = A series may have at most 1000 meetings: choose an earlier end of repetition.
plan-error-invalid_entity = The entity is at most 200 characters, on one line.
plan-error-invalid_invitees = An invitee's address holds a character no e-mail address has.
plan-error-invalid_streaming_url = The streaming address is an rtmp:// or rtmps:// address.
plan-error-unknown_owner = No account has this e-mail address: the recording owner must have signed in once.
plan-error-occurrence_not_found = This meeting has no occurrence then.
plan-error-invitee = “{ $address }” is not an e-mail address.
plan-error-too-many-invitees = At most { $count } invitees.

## A meeting and its occurrences
meeting-not-found-title = Meeting not found
meeting-not-found = This meeting does not exist, was cancelled, or is not one of yours.
notice-planned = The meeting is planned and the invitations are on their way.
notice-saved = Saved. The invitees receive the update.
notice-deleted = The occurrence is cancelled. The invitees receive the cancellation.
notice-deleted-series = The meeting is cancelled. The invitees receive the cancellation.
meeting-join-title = Join
meeting-open = Join the meeting
meeting-pin = PIN { $pin }
meeting-phone-steps = Call the number, key the room number then #, and the PIN then # if there is one.
meeting-details = Details
meeting-no-invitees = Nobody invited yet.
meeting-next = Next occurrences
edit-series = Change the series
edit-meeting = Change the meeting
delete-series = Delete series
delete = Delete
occurrence-changed = changed
occurrence-title = This occurrence
occurrence-help = Save changes this occurrence only; Save series gives every occurrence this start time and duration.

## The calendar
date-long = { $weekday } { $day } { $month } { $year }
date-short = { $weekday } { $day }
month-title = { $month } { $year }
week-title = { $from } – { $to } { $year }
dayshort-mon = Mon
dayshort-tue = Tue
dayshort-wed = Wed
dayshort-thu = Thu
dayshort-fri = Fri
dayshort-sat = Sat
dayshort-sun = Sun
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December
calendar-nav = Move in the calendar
calendar-today = Today
calendar-prev = Previous
calendar-next = Next
calendar-views = View
calendar-day = Day
calendar-week = Week
calendar-month = Month
calendar-zone = Times in { $zone }.
calendar-more = { $count ->
    [one] + { $count } more
   *[other] + { $count } more
}
calendar-todays = Today's meetings
calendar-none-today = No meeting today.
calendar-all = All your meetings
calendar-invited = invited
calendar-feed-title = Subscribe from your calendar
calendar-feed-help = Add this address to Thunderbird, Outlook or your phone's calendar (“subscribe from the web”) to see your meetings there. Keep it to yourself: anyone with it sees your meetings.
