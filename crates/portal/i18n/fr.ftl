# Le portail de pont, en français. Un message par texte affiché ; en.ftl a les mêmes identifiants.

## Mise en page
skip-to-content = Aller au contenu
nav-label = Navigation principale
nav-meetings = Réunions
nav-calendar = Agenda
nav-recordings = Sessions enregistrées
nav-public = Enregistrements publics
nav-accounts = Comptes
lang-label = Langue
sign-in = Se connecter
sign-out = Se déconnecter
footer = pont — réunions vidéo et audio de votre établissement, par le web, le téléphone et les salles équipées.
back-home = Retour à l'accueil

## Accueil
home-title = Accueil
home-welcome = Réunissez-vous par le web, le téléphone ou en salle
home-lead = Rejoignez une réunion avec son numéro de salle, ou connectez-vous pour organiser les vôtres.
home-hello = Bonjour, { $name }
home-lead-signed-in = Lancez une réunion maintenant, ou retrouvez celles que vous avez planifiées.
join-title = Rejoindre une réunion
join-help = Le numéro de salle figure dans votre invitation. Aucun compte n'est nécessaire.
room-number = Numéro de salle
room-number-n = salle { $room }
join = Rejoindre
organizers-title = Organisateurs
organizers-help = Connectez-vous avec le compte de votre établissement pour lancer des réunions, les planifier et retrouver vos enregistrements. Si vous n'avez pas encore de compte, il est créé immédiatement.
instant-title = Lancer une réunion immédiate
instant-help = Une nouvelle salle, prête tout de suite : partagez son lien ou son numéro.
instant-subject = Objet (facultatif)
instant-placeholder = Réunion immédiate
instant-start = Lancer la réunion
instant-default-subject = Réunion de { $name }
instant-too-long = L'objet est trop long : { $count } caractères au plus.
next-title = Vos prochaines réunions
next-none = Aucune réunion planifiée.
next-all = Toutes vos réunions
more-title = Votre espace
more-plan = une date, une série, des invitations avec le lien et l’accès téléphonique
more-calendar = vos réunions par jour, semaine et mois, et un flux pour votre agenda
more-recordings = vos enregistrements, à valider, publier ou télécharger
more-public = les enregistrements publiés par votre établissement
when-instant = réunion immédiate
when-daily = { $when }, tous les jours
when-weekly = { $when }, toutes les semaines
when-monthly = { $when }, tous les mois

## Formulaires
form-unreadable = Le formulaire n'a pas pu être lu. Merci de le remplir à nouveau.
form-too-large = Le formulaire est trop volumineux. Merci de raccourcir votre saisie.

## Connexion
signin-title = Connexion
signin-help = Les organisateurs se connectent avec le compte de leur établissement (authentification unique).
signin-sso = Me connecter avec mon établissement
signin-first-time = Première visite ? Votre compte est créé à votre première connexion.
signin-no-sso = L'authentification unique n'est pas configurée sur ce serveur.
signin-token = Les administrateurs peuvent aussi vous donner un lien de connexion personnel (pont token create).
signin-bad-token-title = Ce lien de connexion ne fonctionne pas
signin-bad-token = Le lien est erroné, ou il a été révoqué. Demandez-en un nouveau.
signin-failed-title = Vous n'êtes pas connecté
signin-down = Le service de connexion de votre établissement ne répond pas. Le reste du site fonctionne : réessayez de vous connecter dans quelques minutes.
signin-bad-state = Cette réponse de connexion ne correspond à aucune connexion commencée dans ce navigateur, ou elle a déjà servi. Merci de recommencer.
signin-refused = Le service de connexion de votre établissement a refusé la connexion.
signin-bad-token-idp = La réponse de connexion n'a pas pu être vérifiée : elle a été refusée.
signin-domain = Le compte de votre établissement est valide, mais son domaine de messagerie n'est pas autorisé à se connecter ici.
signin-again = Se connecter à nouveau

## Réunions
meetings-title = Réunions
meetings-yours = Vos réunions
meetings-none = Vous n'avez encore aucune réunion.
col-subject = Objet
col-when = Quand
col-room = Salle
col-dial-in = Salles équipées
pin-set = code PIN
col-name = Nom
col-email = Courriel
col-role = Rôle
col-created = Créé le
col-last-seen = Dernière visite
never = jamais

## Administration
accounts-title = Comptes
accounts-count = { $count ->
    [one] Un compte.
   *[other] { $count } comptes.
}

## Enregistrements
recordings-lead = Les réunions que vous avez enregistrées. Elles restent privées tant que vous ne les publiez pas.
recordings-none = Vous n'avez encore aucun enregistrement. Lancez-en un depuis la page d'une réunion ou avec l'API.
recording-part = partie { $count }
recording-interrupted = interrompu
col-title = Titre
col-recorded = Enregistré le
col-duration = Durée
col-status = État
col-visibility = Visibilité
col-download = Télécharger
status-recording = en cours
status-processing = en traitement
status-pending_validation = à valider
visibility-private = privé
visibility-organizers = organisateurs
visibility-public = public
public-lead = Les enregistrements que votre établissement a choisi de publier : chacun peut les regarder, sans compte.
public-none = Aucun enregistrement n'a encore été publié.

col-delete-at = Supprimé le
edit-title = Titre, fenêtre et publication
field-description = Description
visibility-private-help = vous seul le voyez dans votre liste ; son lien de visionnage fonctionne pour qui l'a
visibility-organizers-help = les organisateurs de l'établissement le voient dans leur liste
visibility-public-help = dans les enregistrements publics, chacun peut le regarder
field-window = Fenêtre de visionnage
field-window-help = Ce que montre le lien de visionnage (heures:minutes:secondes) ; vide : tout. Le lien de téléchargement donne toujours le fichier original entier.
field-window-start = De
field-window-end = à
field-validated = Validé : lui donner un lien de visionnage et un lien de téléchargement (retirer la validation les désactive tous deux)
field-owner = Le confier à un autre compte
field-owner-help = Le courriel ou le nom d’un compte qui s’est déjà connecté ; vide : il reste à vous.
save = Enregistrer
saved = Enregistré.
links-title = Liens
links-watch = Page de visionnage
links-download = Télécharger le fichier original
links-none = Validez l'enregistrement pour obtenir ses liens de visionnage et de téléchargement.
copy-download = Copier le lien de téléchargement
copied = Copié.
delete-never = Il est conservé jusqu'à ce que vous le supprimiez.
delete-on = Il sera supprimé le { $when } : téléchargez-le avant si vous en avez besoin.
error-trim = La fenêtre de visionnage doit commencer avant de finir, dans l'enregistrement ({ $when }), écrite en heures:minutes:secondes.
error-owner = Aucun compte n’a ce courriel ni ce nom : le nouveau propriétaire doit s’être connecté une fois.
error-title = Le titre doit compter de 1 à 200 caractères.
error-description = La description est trop longue.
error-validate-incomplete = L'enregistrement n'est pas encore terminé : il pourra être validé ensuite.
watch-not-found-title = Cet enregistrement n'est pas disponible
watch-not-found = Le lien est erroné, ou l'enregistrement n'est plus publié.
status-validated = validé

## Erreurs
error-forbidden-title = Action non autorisée
error-csrf = Ce formulaire n'a pas été envoyé depuis une page de ce site : rien n'a été modifié. Rechargez la page et réessayez.
error-admins-only = Cette page est réservée aux administrateurs.
error-internal-title = Un problème est survenu
error-internal = Le serveur n'a pas pu faire cela. Rien n'a été perdu ; réessayez dans un instant.

## La page de réunion (textes de son script : le préfixe meeting- est retiré)
meeting-room_number = Numéro de salle
meeting-join = Rejoindre
meeting-your_name = Votre nom
meeting-room = Salle
meeting-mute_mic = Couper le micro
meeting-unmute_mic = Activer le micro
meeting-stop_camera = Couper la caméra
meeting-start_camera = Activer la caméra
meeting-leave = Quitter
meeting-participants = Participants
meeting-you = vous
meeting-speaking = parle
meeting-muted = micro coupé
meeting-connecting = Connexion…
meeting-connected = Connecté
meeting-reconnecting = Connexion perdue : reconnexion…
meeting-left = Vous avez quitté la réunion.
meeting-rejoin = Rejoindre à nouveau
meeting-denied = L'accès à la caméra et au micro a été refusé. Autorisez-le dans les réglages du site, puis rechargez la page.
meeting-no_device = Aucune caméra ni aucun micro trouvé : vous rejoignez sans.
meeting-unknown_room = Cette salle n'existe pas. Vérifiez le numéro de salle.
meeting-room_full = Cette salle est pleine. Réessayez plus tard.
meeting-room_locked = L'organisateur a verrouillé cette salle. Demandez-lui de la déverrouiller.
meeting-error = Erreur
meeting-insecure = La caméra et le micro exigent HTTPS (ou http://localhost).
meeting-recording_storage_full = Enregistrement arrêté : l'espace de stockage est plein. Ce qui a été enregistré est conservé.
meeting-recording_storage_error = Enregistrement arrêté : l'écriture a échoué. Ce qui a été enregistré est conservé.
meeting-recording = Enregistrement
meeting-language = Langue
meeting-recording_controls = Commandes d'enregistrement
meeting-rec_start = Enregistrer
meeting-rec_pause = Suspendre l'enregistrement
meeting-rec_resume = Reprendre l'enregistrement
meeting-rec_stop = Arrêter l'enregistrement

## Invitation mails
mail-invite-subject = Invitation : { $subject }
mail-update-subject = Invitation modifiée : { $subject }
mail-cancel-subject = Annulé : { $subject }
mail-invite-intro = { $organizer } vous invite à une réunion.
mail-update-intro = { $organizer } a modifié cette réunion.
mail-cancel-intro = { $organizer } a annulé cette réunion.
mail-when = Quand
mail-repeats = Répétition
mail-join = Rejoindre depuis un navigateur
mail-phone = Rejoindre par téléphone
mail-phone-steps = appelez le { $number }, saisissez le numéro de salle { $room } suivi de #
mail-phone-pin = puis le code { $pin } suivi de #
mail-sip = Systèmes de salle
mail-not-cut = La salle reste ouverte si la réunion dépasse l’horaire prévu.
repeat-daily = Chaque jour jusqu’au { $until }
repeat-weekly = Chaque semaine le { $days } jusqu’au { $until }
repeat-monthly = Chaque mois jusqu’au { $until }
day-mon = lundi
day-tue = mardi
day-wed = mercredi
day-thu = jeudi
day-fri = vendredi
day-sat = samedi
day-sun = dimanche

## Planifier une réunion
plan-title = Planifier une réunion
plan-edit-title = Modifier la réunion
plan-lead = Renseignez la réunion : les invités reçoivent aussitôt le lien, l’accès téléphonique et une invitation pour leur agenda.
plan-instant = Réunion instantanée
mail-not-configured = L’envoi de courriels n’est pas configuré sur ce serveur : les invitations sont écrites dans son dossier d’envoi, pas envoyées. Transmettez vous-même le lien de la réunion.
plan-warnings-title = Certaines personnes sont déjà occupées
plan-warnings-help = Ce ne sont que des avertissements : vous pouvez enregistrer la réunion malgré tout.
plan-ignore-save = Ignorer et enregistrer
plan-cancel-changes = Annuler les modifications
plan-warning-busy = { $who } est déjà occupé·e dans la réunion « { $subject } », organisée par { $organizer }, du { $from } à { $to }.
plan-subject = Objet
plan-date = Date
plan-time = Heure de début
plan-duration = Durée approximative
plan-duration-minutes = Durée (minutes)
plan-end = Fin à
plan-duration-help = La durée est indicative : la salle n’est jamais coupée si la réunion déborde.
plan-timezone = Fuseau horaire
plan-organizer = Organisateur
plan-entity = Entité
plan-invitees = Invités
plan-invitees-help = Adresses électroniques, une par ligne ou séparées par des virgules.
plan-invite-me = M’envoyer aussi l’invitation ({ $email })
plan-category = Catégorie
category-video = Visioconférence
category-audio = Audioconférence
plan-repeat = Répétition
repeat-none = Une fois
repeat-every-day = Tous les jours
repeat-every-week = Toutes les semaines
repeat-every-month = Tous les mois
plan-weekdays = Le
plan-until = Gamme de répétition : jusqu’au
plan-until-help = Laissée vide, la série se répète un an. Toutes les semaines : cochez les jours ; aucun coché, c’est le jour de la première réunion.
plan-options = Options
option-recording = Enregistrer la réunion
option-streaming = Diffuser en direct
option-waiting-room = Salle d’attente
option-phone-dial-in = Indiquer l’accès téléphonique dans l’invitation
plan-streaming-url = Adresse de diffusion (RTMP, avec sa clé)
plan-pin = Code PIN
plan-pin-help = Facultatif, 1 à 12 chiffres : les appelants le composent après le numéro de salle.
plan-save = Enregistrer et envoyer les invitations
save-series = Enregistrer la série
plan-cancel = Annuler
plan-error-invalid_subject = Donnez à la réunion un objet d’au plus 200 caractères, sur une ligne.
plan-error-invalid_timezone = Ce fuseau horaire nous est inconnu. Choisissez-en un dans la liste, comme Europe/Paris.
plan-error-invalid_date = Indiquez une date comme 2026-12-14.
plan-error-invalid_time = Indiquez une heure comme 10:30.
plan-error-nonexistent_time = Cette heure n’existe pas ce jour-là : on avance les horloges d’une heure. Choisissez une autre heure.
plan-error-ambiguous_time = Cette heure a lieu deux fois ce jour-là, car on recule les horloges. Choisissez une autre heure.
plan-error-invalid_duration = La durée va de 1 minute à 24 heures.
plan-error-invalid_pin = Un code PIN a de 1 à 12 chiffres.
plan-error-invalid_recurrence = Cette répétition ne fait pas partie de celles proposées.
plan-error-invalid_range = La fin de la répétition précède la première réunion.
plan-error-too_many_occurrences = Une série compte au plus 1000 réunions : choisissez une fin de répétition plus proche.
plan-error-invalid_entity = L’entité fait au plus 200 caractères, sur une ligne.
plan-error-invalid_invitees = L’adresse d’un invité contient un caractère qu’aucune adresse électronique n’a.
plan-error-invalid_streaming_url = L’adresse de diffusion est une adresse rtmp:// ou rtmps://.
plan-error-unknown_owner = Aucun compte n’a cette adresse : le propriétaire de l’enregistrement doit s’être connecté une fois.
plan-error-occurrence_not_found = Cette réunion n’a pas d’occurrence à ce moment-là.
plan-error-invitee = « { $address } » n’est pas une adresse électronique.
plan-error-too-many-invitees = Au plus { $count } invités.

## Une réunion et ses occurrences
meeting-not-found-title = Réunion introuvable
meeting-not-found = Cette réunion n’existe pas, a été annulée, ou n’est pas l’une des vôtres.
notice-planned = La réunion est planifiée et les invitations sont en route.
notice-saved = Enregistré. Les invités reçoivent la mise à jour.
notice-deleted = L’occurrence est annulée. Les invités reçoivent l’annulation.
notice-deleted-series = La réunion est annulée. Les invités reçoivent l’annulation.
meeting-join-title = Rejoindre
meeting-open = Rejoindre la réunion
meeting-pin = code PIN { $pin }
meeting-phone-steps = Appelez le numéro, composez le numéro de salle puis #, et le code PIN puis # s’il y en a un.
meeting-details = Détails
meeting-no-invitees = Personne n’est encore invité.
meeting-next = Prochaines occurrences
edit-series = Modifier la série
edit-meeting = Modifier la réunion
delete-series = Supprimer la série
delete = Supprimer
occurrence-changed = modifiée
occurrence-title = Cette occurrence
occurrence-help = Enregistrer ne modifie que cette occurrence ; Enregistrer la série donne à toutes les occurrences cette heure de début et cette durée.

## L’agenda
date-long = { $weekday } { $day } { $month } { $year }
date-short = { $weekday } { $day }
month-title = { $month } { $year }
week-title = { $from } – { $to } { $year }
dayshort-mon = lun.
dayshort-tue = mar.
dayshort-wed = mer.
dayshort-thu = jeu.
dayshort-fri = ven.
dayshort-sat = sam.
dayshort-sun = dim.
month-1 = janvier
month-2 = février
month-3 = mars
month-4 = avril
month-5 = mai
month-6 = juin
month-7 = juillet
month-8 = août
month-9 = septembre
month-10 = octobre
month-11 = novembre
month-12 = décembre
calendar-nav = Se déplacer dans l’agenda
calendar-today = Aujourd’hui
calendar-prev = Précédent
calendar-next = Suivant
calendar-views = Affichage
calendar-day = Jour
calendar-week = Semaine
calendar-month = Mois
calendar-zone = Heures de { $zone }.
calendar-more = { $count ->
    [one] + { $count } autre
   *[other] + { $count } autres
}
calendar-todays = Réunions du jour
calendar-none-today = Aucune réunion aujourd’hui.
calendar-all = Toutes vos réunions
calendar-invited = invité
calendar-feed-title = S’abonner depuis votre agenda
calendar-feed-help = Ajoutez cette adresse à Thunderbird, Outlook ou à l’agenda de votre téléphone (« s’abonner à un agenda en ligne ») pour y voir vos réunions. Gardez-la pour vous : quiconque la connaît voit vos réunions.
